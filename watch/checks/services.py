"""Redis (PING latency, memory), PostgreSQL (``SELECT 1`` latency, connections) and the
ledger's write backlog."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from inference.ledger import Ledger
from watch.checks._base import grade, ms, timed
from watch.results import Breach, CheckResult, Status
from watch.settings import LedgerCheckSettings, PostgresCheckSettings, RedisCheckSettings

__all__ = ["LedgerBacklogCheck", "PostgresCheck", "RedisCheck"]


class RedisCheck:
    name = "redis"
    subject = "redis"
    failure_status = Status.CRITICAL

    def __init__(self, url: str, config: RedisCheckSettings) -> None:
        self._config = config
        self.timeout_s = config.timeout_s
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=config.timeout_s, socket_connect_timeout=config.timeout_s,
            retry_on_timeout=False,
        )

    async def run(self) -> Sequence[CheckResult]:
        elapsed = timed()
        try:
            await self._client.ping()  # type: ignore[misc]
            latency = elapsed()
            info = await self._client.info("memory")
        except (RedisError, OSError) as exc:
            return [CheckResult(self.name, self.name, Status.CRITICAL,
                                f"Redis unreachable: {type(exc).__name__}", self.subject)]
        used = float(info.get("used_memory", 0) or 0)
        limit = float(info.get("maxmemory", 0) or 0)
        numbers = {"ping_s": latency, "used_memory_bytes": used, "maxmemory_bytes": limit}
        checks = [grade("redis ping", latency, warn=self._config.latency_warn_s)]
        if limit:
            numbers["memory_fraction"] = used / limit
            checks.append(grade("redis memory", used / limit,
                                warn=self._config.memory_warn_fraction))
        status = max(g.status for g in checks)
        breaches = tuple(g.breach for g in checks if g.breach is not None)
        detail = f", memory {used / limit:.0%} of maxmemory" if limit else ""
        message = f"Redis PING {ms(latency)}{detail}"
        return [CheckResult(self.name, self.name, status, message, self.subject, latency,
                            numbers, breaches)]

    async def aclose(self) -> None:
        await self._client.aclose()


class PostgresCheck:
    name = "postgres"
    subject = "postgres"
    failure_status = Status.CRITICAL

    def __init__(self, url: str, config: PostgresCheckSettings) -> None:
        self._url = url
        self._config = config
        self.timeout_s = config.timeout_s

    async def run(self) -> Sequence[CheckResult]:
        try:
            conn = await asyncpg.connect(self._url, timeout=self._config.timeout_s)
        except (OSError, asyncpg.PostgresError) as exc:
            return [CheckResult(self.name, self.name, Status.CRITICAL,
                                f"PostgreSQL unreachable: {type(exc).__name__}", self.subject)]
        try:
            elapsed = timed()
            await conn.fetchval("SELECT 1")
            latency = elapsed()
            connections = float(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
            limit = float(await conn.fetchval("SELECT current_setting('max_connections')::int"))
        finally:
            await conn.close()
        fraction = connections / limit if limit else 0.0
        checks = [
            grade("postgres select 1", latency, warn=self._config.latency_warn_s),
            grade("postgres connections", fraction,
                  warn=self._config.connections_warn_fraction,
                  critical=self._config.connections_critical_fraction),
        ]
        status = max(g.status for g in checks)
        breaches = tuple(g.breach for g in checks if g.breach is not None)
        numbers = {"select1_s": latency, "connections": connections,
                   "max_connections": limit, "connections_fraction": fraction}
        message = f"PostgreSQL SELECT 1 {ms(latency)}, {connections:g}/{limit:g} connections"
        return [CheckResult(self.name, self.name, status, message, self.subject, latency,
                            numbers, breaches)]


class LedgerBacklogCheck:
    name = "ledger"
    subject = "ledger"
    failure_status = Status.WARN
    timeout_s = 2.0

    def __init__(self, ledger: Ledger, config: LedgerCheckSettings) -> None:
        self._ledger = ledger
        self._config = config

    async def run(self) -> Sequence[CheckResult]:
        backlog = self._ledger.backlog
        g = grade("ledger backlog", float(backlog), warn=float(self._config.backlog_warn),
                  critical=float(self._config.backlog_critical))
        status = g.status
        breaches: tuple[Breach, ...] = (g.breach,) if g.breach is not None else ()
        error = self._ledger.last_error
        if error is not None:
            status = max(status, Status.WARN)
            message = f"ledger database unavailable ({error}); {backlog} record(s) waiting"
        else:
            message = f"ledger backlog {backlog} record(s)"
        return [CheckResult(self.name, self.name, status, message, self.subject, None,
                            {"backlog": float(backlog)}, breaches)]
