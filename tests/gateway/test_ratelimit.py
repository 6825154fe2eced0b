"""Per-key rates: one limit shared by replicas through Redis; per replica without it."""

from __future__ import annotations

import logging

import pytest

from gateway.errors import RateLimited
from gateway.gate import KeyGate, open_key_gate
from gateway.keys import KeyStore
from gateway.ratelimit import MemoryWindow
from store import Database
from tests.gateway.gate_settings import GateSettings
from tests.support.services import RedisProcess

ROUTES = ("smart-agent",)


async def admitted(gate: KeyGate, secret: str) -> bool:
    """True when admitted; False on a well-formed 429."""
    refused: RateLimited | None = None
    try:
        await gate.admit({"Authorization": f"Bearer {secret}"})
    except RateLimited as exc:
        refused = exc
    if refused is None:
        return True
    assert refused.status == 429
    assert 0 < refused.retry_after <= 60
    assert int(refused.headers["Retry-After"]) >= 1
    assert secret not in refused.message
    return False


def redis_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "Redis" in r.getMessage()]


async def test_rpm_is_one_limit_across_two_replicas(pg_db: Database, redis_url: str) -> None:
    store = await KeyStore.open(pg_db)
    limited = await store.create("script", known_routes=ROUTES, rpm=5)
    free = await store.create("editor", known_routes=ROUTES)
    settings = GateSettings.with_redis(redis_url)
    async with open_key_gate(settings, pg_db) as one, open_key_gate(settings, pg_db) as two:
        answers = [await admitted(gate, limited.secret) for gate in (one, two) * 4]
        assert answers == [True] * 5 + [False] * 3
        assert all([await admitted(gate, free.secret) for gate in (one, two) * 10])


async def test_without_redis_each_replica_limits_alone_and_says_so_once(
    pg_db: Database, redis_process: RedisProcess, caplog: pytest.LogCaptureFixture,
) -> None:
    store = await KeyStore.open(pg_db)
    key = await store.create("script", known_routes=ROUTES, rpm=2)
    settings = GateSettings.with_redis(redis_process.url)
    caplog.set_level(logging.INFO, logger="gateway")
    async with open_key_gate(settings, pg_db) as one, open_key_gate(settings, pg_db) as two:
        assert [await admitted(one, key.secret), await admitted(two, key.secret)] == [True, True]
        assert not await admitted(one, key.secret)
        assert redis_warnings(caplog) == []
        redis_process.stop()
        # Degraded: each replica counts its own window, from zero.
        assert [await admitted(one, key.secret) for _ in range(3)] == [True, True, False]
        assert [await admitted(two, key.secret) for _ in range(3)] == [True, True, False]
        warnings = redis_warnings(caplog)
        assert len(warnings) == 2  # one per replica (two gates, two processes in production)
        assert all("per replica" in w for w in warnings)
        assert all(redis_process.url not in r.getMessage() for r in caplog.records)


async def test_no_redis_configured_is_one_warning_at_start(
    db: Database, caplog: pytest.LogCaptureFixture,
) -> None:
    store = await KeyStore.open(db)
    key = await store.create("script", known_routes=ROUTES, rpm=1)
    async with open_key_gate(GateSettings(), db) as gate:
        assert [await admitted(gate, key.secret) for _ in range(3)] == [True, False, False]
    warnings = redis_warnings(caplog)
    assert len(warnings) == 1 and "no Redis configured" in warnings[0]


def test_the_window_slides() -> None:
    now = [1000.0]
    window = MemoryWindow(60, clock=lambda: now[0])
    assert window.acquire("k", 2) == 0
    now[0] += 30
    assert window.acquire("k", 2) == 0
    now[0] += 10
    assert window.acquire("k", 2) == pytest.approx(20)
    now[0] += 20.001  # the first request has left the window; the second has not
    assert window.acquire("k", 2) == 0
    assert window.acquire("k", 2) == pytest.approx(29.999)
    assert window.acquire("other", 2) == 0
