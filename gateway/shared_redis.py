"""The Redis that gateway replicas share (rate limits, key budgets), and what to do without it.

``gateway.redis_url`` (else ``cache.redis_url``) names it. When none is configured, or it
stops answering, callers fall back to per-replica state; :class:`SharedRedis` says so in ONE
warning per outage (and once at start-up when none is configured), stays quiet for
``retry_after`` seconds after an error instead of paying a timeout on every request, and
logs when Redis is back. The URL is never logged (it may carry a password).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

__all__ = ["DEGRADED", "SharedRedis"]

log = logging.getLogger(__name__)

DEGRADED = "rate limits and key budgets are per replica"


class SharedRedis:
    """A redis.asyncio client (or none) with a quiet period after each error."""

    def __init__(
        self,
        url: str | None,
        *,
        timeout: float = 0.25,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client: aioredis.Redis | None = None
        if url is not None:
            self._client = aioredis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0), retry_on_timeout=False,
                decode_responses=True,  # requests wait for Redis once, never for retries
            )
        self._retry_after = retry_after
        self._clock = clock
        self._quiet_until = 0.0
        self._scripts: dict[str, AsyncScript] = {}
        self.degraded = False  # an outage was announced and Redis has not answered since
        self.errors = 0

    @property
    def configured(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> aioredis.Redis | None:
        """The client to try now, or None: not configured, or quiet after an error."""
        if self._client is None or self._clock() < self._quiet_until:
            return None
        return self._client

    def script(self, source: str) -> AsyncScript | None:
        """The Lua script ``source`` (run by EVALSHA, loaded on first use), or None when
        Redis is not to be tried now (see :attr:`client`)."""
        client = self.client
        if client is None:
            return None
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = client.register_script(source)
        return script

    def announce_unconfigured(self) -> None:
        if self._client is None:
            log.warning("gateway: no Redis configured (gateway.redis_url or cache.redis_url); "
                        "%s", DEGRADED)

    def trouble(self, exc: BaseException) -> None:
        """A Redis call failed: go per replica (one warning per outage)."""
        self.errors += 1
        self._quiet_until = self._clock() + self._retry_after
        if not self.degraded:
            self.degraded = True
            log.warning("gateway: Redis unreachable (%s); %s until it is back",
                        type(exc).__name__, DEGRADED)

    def answered(self) -> None:
        """A Redis call succeeded: shared state again."""
        if self.degraded:
            self.degraded = False
            log.info("gateway: Redis is back; rate limits and key budgets are shared again")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
