"""Pacing of message edits: a token bucket per channel and one for the whole bot.

Streaming replies edit their messages as text arrives; with dozens of replies at once the
bot must stay under Discord's limits by itself rather than lean on 429s. Waiters are
served in arrival order (``asyncio.Lock`` is fair), so a reply's final edit is delayed,
never dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["EditThrottle", "TokenBucket"]


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # total seconds callers spent waiting, for diagnostics

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                pause = (1 - self._tokens) / self.rate
                self.waited += pause
                await asyncio.sleep(pause)
                self._refill()
            self._tokens -= 1


class EditThrottle:
    """One bucket per channel (or webhook) plus one shared by every edit of the bot."""

    def __init__(self, *, per_second: float, channel_per_second: float, channel_burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._global = TokenBucket(per_second, max(1, round(per_second)), clock=clock)
        self._channel_rate = channel_per_second
        self._channel_burst = channel_burst
        self._channels: dict[int, TokenBucket] = {}

    async def acquire(self, channel_id: int) -> None:
        bucket = self._channels.get(channel_id)
        if bucket is None:
            bucket = TokenBucket(self._channel_rate, self._channel_burst, clock=self._clock)
            self._channels[channel_id] = bucket
        await bucket.acquire()
        await self._global.acquire()

    @property
    def waited(self) -> float:
        return self._global.waited + sum(b.waited for b in self._channels.values())
