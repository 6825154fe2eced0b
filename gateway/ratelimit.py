"""Per-key request rates (``rpm``), shared by every replica through Redis.

The limit is a sliding window log: a request is admitted when fewer than ``limit``
requests were admitted in the last ``window`` seconds (60 for rpm), so no minute ever
holds more than ``rpm`` requests, whatever the burst. In Redis each key's window is a
sorted set, trimmed and checked by one Lua script (atomic across replicas; timestamps are
the Redis server's clock, so replicas' clocks never disagree). Without Redis (not
configured, or down) each replica keeps the same window in memory: the limit then holds
per replica (see :class:`~gateway.shared_redis.SharedRedis` for the one warning).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable

from redis.exceptions import RedisError

from gateway.shared_redis import SharedRedis

__all__ = ["MemoryWindow", "RateLimiter"]

_PREFIX = "homecrew:gateway:rpm:"
# KEYS[1]: the key's window; ARGV: window ms, limit, a unique member.
# Returns 0 when admitted, else the milliseconds until the oldest request leaves the window.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class MemoryWindow:
    """The same sliding window, in this process only (the fallback)."""

    def __init__(self, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def acquire(self, key: str, limit: int) -> float:
        """0 when admitted (and counted), else the seconds until a slot frees up."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) < limit:
            hits.append(now)
            return 0.0
        return max(0.001, hits[0] + self._window - now)


class RateLimiter:
    """Sliding-window limits in the shared Redis, else in memory."""

    def __init__(self, redis: SharedRedis, *, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis
        self._window = window
        self._memory = MemoryWindow(window, clock)

    @property
    def shared(self) -> bool:
        """Whether the last decisions were made in Redis (shared by the replicas)."""
        return self._redis.configured and not self._redis.degraded

    async def acquire(self, key: str, limit: int) -> float:
        """Count one request of ``key`` against ``limit`` per window: 0 when admitted,
        else the seconds to wait (the request is not counted then)."""
        script = self._redis.script(_SLIDING_WINDOW)
        if script is not None:
            try:
                wait_ms = await script(keys=[_PREFIX + key], args=[
                    int(self._window * 1000), limit, secrets.token_hex(8)])
            except (RedisError, OSError) as exc:
                self._redis.trouble(exc)
            else:
                self._redis.answered()
                return int(wait_ms) / 1000
        return self._memory.acquire(key, limit)
