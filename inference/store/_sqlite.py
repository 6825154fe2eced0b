from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from inference.errors import StoreError, StoreUnavailable
from inference.store._base import Database, Dialect, Row

__all__ = ["SqliteDatabase"]

_PLACEHOLDER = re.compile(r"\$(\d+)")


def _sql(text: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", text)


class SqliteDatabase:
    """One aiosqlite connection (SQLite serialises writers anyway); WAL journal."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._in_tx: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"sqlite-tx-{id(self)}", default=False
        )
        self.description = f"sqlite:{path}"

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: no fsync per commit; the database stays consistent on a crash
        # (a power cut may lose the last commits, which the ledger's spill file covers).
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        return cls(conn, path)

    async def execute(self, sql: str, *args: Any) -> None:
        async with self._guard():
            await self._conn.execute(_sql(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._guard():
            await self._conn.executemany(_sql(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._guard():
            cursor = await self._conn.execute(_sql(sql), args)
            rows = await cursor.fetchall()
        return [dict(row) for row in rows]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return next(iter(rows[0].values())) if rows else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        async with self._lock:
            token = self._in_tx.set(True)
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite transaction failed: {exc}") from exc
            finally:
                self._in_tx.reset(token)

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.fetchval("SELECT 1")
        return time.perf_counter() - started

    async def close(self) -> None:
        await self._conn.close()

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Serialise statements, except inside our own transaction (lock already held)."""
        try:
            if self._in_tx.get():
                yield
            else:
                async with self._lock:
                    yield
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc
