"""The team's tables in the shared store (SQLite or PostgreSQL), and its write lock.

Every write of the team goes through :func:`team_transaction`: one database transaction
that, on PostgreSQL, first takes a transaction-scoped advisory lock, so concurrent
processes (the bot and the CLI) serialise their read-modify-write sequences; SQLite's
``BEGIN IMMEDIATE`` already does. Timestamps are epoch seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from store import Database, Migration, apply_migrations

__all__ = ["COMPONENT", "TEAM_MIGRATIONS", "migrate", "team_transaction"]

COMPONENT = "team"
_LOCK_KEY = 0x7EA3_0001

TEAM_MIGRATIONS = (
    Migration(1, """
        CREATE TABLE team_messages (
            conversation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            role TEXT NOT NULL,
            agent TEXT,
            author TEXT,
            content TEXT NOT NULL,
            status TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            turn_id TEXT NOT NULL,
            PRIMARY KEY (conversation_id, seq)
        );
        CREATE TABLE team_tasks (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            owner TEXT NOT NULL,
            areas TEXT NOT NULL,
            state TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            conversation_id TEXT
        );
        CREATE INDEX team_tasks_state ON team_tasks (state);
        CREATE TABLE team_artifacts (
            task_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            version INTEGER NOT NULL,
            content TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (task_id, kind, version)
        );
        CREATE TABLE team_signoffs (
            task_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            signer TEXT NOT NULL,
            topic TEXT NOT NULL,
            decision TEXT NOT NULL,
            artifact_kind TEXT,
            artifact_sha256 TEXT,
            notes TEXT NOT NULL,
            claims TEXT NOT NULL,
            actor TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (task_id, seq)
        );
        CREATE TABLE team_halt (
            id INTEGER PRIMARY KEY,
            active BOOLEAN NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT NOT NULL,
            since DOUBLE PRECISION NOT NULL,
            generation INTEGER NOT NULL
        );
        CREATE TABLE team_audit (
            seq INTEGER PRIMARY KEY,
            ts DOUBLE PRECISION NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            task_id INTEGER,
            policy_version INTEGER NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX team_audit_task ON team_audit (task_id)
    """),
)


async def migrate(db: Database) -> int:
    return await apply_migrations(db, COMPONENT, TEAM_MIGRATIONS)


@asynccontextmanager
async def team_statement(db: Database) -> AsyncIterator[Database]:
    """Where one read-then-write statement runs atomically with respect to the team's
    other writers: as is on SQLite (one writer at a time, a statement is its own
    transaction), inside :func:`team_transaction` on PostgreSQL."""
    if db.dialect == "sqlite":
        yield db
        return
    async with team_transaction(db) as tx:
        yield tx


@asynccontextmanager
async def team_transaction(db: Database) -> AsyncIterator[Database]:
    """A transaction holding the team's write lock (advisory on PostgreSQL)."""
    async with db.transaction() as tx:
        if tx.dialect == "postgres":
            await tx.fetchval("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        yield tx
