"""Where Chief's messages go: the :class:`Poster` protocol (the bot implements it) and the
:class:`Outbox` that delivers them without holding up a sweep.

A failed post is retried a few times with a short backoff, then logged and dropped; the
incident itself is persisted either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from watch.messages import ChiefMessage

__all__ = ["Outbox", "PostError", "Poster"]

log = logging.getLogger(__name__)


class PostError(Exception):
    """A post could not be delivered (raised by posters; the message never holds secrets)."""


@runtime_checkable
class Poster(Protocol):
    async def post(self, channel_name: str, message: ChiefMessage) -> None:
        """Post ``message`` in the channel called ``channel_name`` (e.g. ``"alerts"``)."""
        ...


@dataclass(frozen=True, slots=True)
class _Letter:
    channels: tuple[str, ...]
    message: ChiefMessage


class Outbox:
    """A queue in front of a :class:`Poster`; ``run`` is the delivery task (cancel to stop)."""

    def __init__(
        self,
        poster: Poster,
        *,
        attempts: int = 3,
        backoff_s: float = 1.0,
        on_result: Callable[[ChiefMessage, bool], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._poster = poster
        self._queue: asyncio.Queue[_Letter] = asyncio.Queue()
        self._attempts = attempts
        self._backoff = backoff_s
        self._on_result = on_result
        self._sleep = sleep

    def put(self, channels: Sequence[str], message: ChiefMessage) -> None:
        """Queue ``message`` for every channel (safe to call from sync callbacks)."""
        self._queue.put_nowait(_Letter(tuple(channels), message))

    async def drain(self) -> None:
        """Wait until everything queued so far was delivered (or given up on)."""
        await self._queue.join()

    async def run(self) -> None:
        while True:
            letter = await self._queue.get()
            try:
                await self.send(letter.channels, letter.message)
            finally:
                self._queue.task_done()

    async def send(self, channels: Sequence[str], message: ChiefMessage) -> bool:
        """Deliver now, to every channel; True when every channel got it."""
        delivered = [await self._send_one(channel, message) for channel in channels]
        ok = all(delivered)
        if self._on_result is not None:
            self._on_result(message, ok)
        return ok

    async def _send_one(self, channel: str, message: ChiefMessage) -> bool:
        for attempt in range(1, self._attempts + 1):
            try:
                await self._poster.post(channel, message)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("post to #%s failed (attempt %d/%d): %s", channel, attempt,
                            self._attempts, exc)
                if attempt < self._attempts:
                    await self._sleep(self._backoff * 2 ** (attempt - 1))
        return False
