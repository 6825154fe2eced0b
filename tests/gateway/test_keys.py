"""API keys: stored as a hash only; KeyGate admits, refuses, scopes and revokes."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest

from gateway.access import LOCAL_KEY, Grant
from gateway.errors import DuplicateKeyName, Forbidden, InvalidKeySpec, Unauthorized
from gateway.gate import open_key_gate
from gateway.keys import KEY_PREFIX, KeyStore
from store import Database
from tests.gateway.gate_settings import GateSettings

ROUTES = ("smart-agent", "chief-monitor")


async def every_value(db: Database) -> list[str]:
    """Every cell of every table in the database, as text."""
    if db.dialect == "sqlite":
        tables = [r["name"] for r in await db.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
    else:
        tables = [r["table_name"] for r in await db.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
    assert "gateway_keys" in tables
    return [str(value) for table in tables
            for row in await db.fetch(f"SELECT * FROM {table}") for value in row.values()]


async def test_the_secret_is_shown_once_and_stored_only_as_its_hash(
    db: Database, tmp_path: Path,
) -> None:
    store = await KeyStore.open(db)
    new = await store.create("alice", known_routes=ROUTES, routes=["smart-agent"],
                             monthly_usd=5, rpm=60)
    assert new.secret.startswith(KEY_PREFIX) and len(new.secret) >= 40
    assert new.secret not in repr(new)
    values = await every_value(db)
    assert hashlib.sha256(new.secret.encode()).hexdigest() in values
    assert not any(new.secret in value or new.secret[3:] in value for value in values)
    if db.dialect == "sqlite":  # nor anywhere in the files (the WAL included)
        files = await asyncio.to_thread(
            lambda: [p.read_bytes() for p in tmp_path.glob("homecrew.sqlite3*")])
        assert files and not any(new.secret[3:].encode() in data for data in files)
    [key] = await store.keys()
    assert (key.name, key.routes, key.monthly_usd, key.rpm, key.revoked) == (
        "alice", frozenset({"smart-agent"}), 5.0, 60, False)
    assert "key_hash" not in key.to_json()


async def test_bad_specs_name_the_field(db: Database) -> None:
    store = await KeyStore.open(db)
    await store.create("alice", known_routes=ROUTES)
    with pytest.raises(DuplicateKeyName, match="'alice' exists"):
        await store.create("alice", known_routes=ROUTES)
    with pytest.raises(InvalidKeySpec, match=r"routes: unknown route\(s\) nope, zz"):
        await store.create("bob", known_routes=ROUTES, routes=["zz", "smart-agent", "nope"])
    for name in ("Bob", "1bob", "", "a" * 33, LOCAL_KEY):
        with pytest.raises(InvalidKeySpec, match=r"^name: "):
            await store.create(name, known_routes=ROUTES)
    with pytest.raises(InvalidKeySpec, match=r"^rpm: "):
        await store.create("bob", known_routes=ROUTES, rpm=0)
    with pytest.raises(InvalidKeySpec, match=r"^monthly_usd: "):
        await store.create("bob", known_routes=ROUTES, monthly_usd=-1)
    assert [k.name for k in await store.keys()] == ["alice"]


async def test_no_keys_admits_local_then_every_request_needs_one(db: Database) -> None:
    async with open_key_gate(GateSettings(), db) as gate:
        assert not await gate.has_keys()
        assert await gate.admit({}) == Grant(LOCAL_KEY)
        store = await KeyStore.open(db)
        alice = await store.create("alice", known_routes=ROUTES)
        assert await gate.has_keys()
        for headers in ({}, {"Authorization": "Basic xyz"}, {"x-api-key": "  "}):
            with pytest.raises(Unauthorized, match="missing API key") as refused:
                await gate.admit(headers)
            assert refused.value.status == 401
        wrong = KEY_PREFIX + "not-a-real-key-at-all-but-long-enough-to-look-like-one"
        with pytest.raises(Unauthorized) as refused:
            await gate.admit({"Authorization": f"Bearer {wrong}"})
        assert wrong not in str(refused.value) and "not-a-real" not in refused.value.message
        for headers in ({"Authorization": f"Bearer {alice.secret}"},
                        {"authorization": f"bearer  {alice.secret} "},
                        {"x-api-key": alice.secret}, {"X-Api-Key": alice.secret}):
            assert await gate.admit(headers) == Grant("alice")


async def test_a_scoped_key_is_forbidden_elsewhere(db: Database) -> None:
    store = await KeyStore.open(db)
    scoped = await store.create("editor", known_routes=ROUTES, routes=["smart-agent"])
    async with open_key_gate(GateSettings(), db) as gate:
        grant = await gate.admit({"x-api-key": scoped.secret})
    assert grant == Grant("editor", frozenset({"smart-agent"}))
    grant.check(["smart-agent"], "smart-agent")
    grant.check(["chief-monitor", "smart-agent"], "mlx-qwen")  # an alias on both routes
    with pytest.raises(Forbidden, match="'editor' may not use 'chief-monitor'") as refused:
        grant.check(["chief-monitor"], "chief-monitor")
    assert refused.value.status == 403


async def test_revocation_and_new_keys_reach_every_replica_within_a_second(
    pg_db: Database,
) -> None:
    store = await KeyStore.open(pg_db)
    alice = await store.create("alice", known_routes=ROUTES)
    async with (open_key_gate(GateSettings(), pg_db) as one,
                open_key_gate(GateSettings(), pg_db) as two):
        for gate in (one, two):
            assert (await gate.admit({"x-api-key": alice.secret})).key_name == "alice"
        changed = [asyncio.ensure_future(gate.changed()) for gate in (one, two)]
        started = time.monotonic()
        await store.revoke("alice")
        async with asyncio.timeout(1.5):
            await asyncio.gather(*changed)
        assert time.monotonic() - started < 1.2
        for gate in (one, two):
            with pytest.raises(Unauthorized, match="'alice' has been revoked"):
                await gate.admit({"x-api-key": alice.secret})
        changed = [asyncio.ensure_future(gate.changed()) for gate in (one, two)]
        bob = await store.create("bob", known_routes=ROUTES)
        async with asyncio.timeout(1.5):
            await asyncio.gather(*changed)
        for gate in (one, two):
            assert (await gate.admit({"x-api-key": bob.secret})).key_name == "bob"


async def test_revoking_every_key_does_not_reopen_the_gateway(db: Database) -> None:
    store = await KeyStore.open(db)
    await store.create("alice", known_routes=ROUTES)
    await store.revoke("alice")
    async with open_key_gate(GateSettings(), db) as gate:
        assert await gate.has_keys()
        with pytest.raises(Unauthorized, match="missing API key"):
            await gate.admit({})
