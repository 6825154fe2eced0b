"""The handle of one reply in progress: iterate its events, wait for its record, cancel it.

The engine's worker task produces the events; the handle only buffers them, so a slow
consumer never stalls the model call and a consumer that goes away loses nothing but the
view. ``cancel()`` is what ``/stop`` and a halt use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from team.events import ReplyEvent, ReplyFinished

__all__ = ["ReplyHandle"]


class ReplyHandle:
    def __init__(self, conversation_id: str, agent: str, turn_id: str) -> None:
        self.conversation_id = conversation_id
        self.agent = agent
        self.turn_id = turn_id
        self._events: asyncio.Queue[ReplyEvent] = asyncio.Queue()
        self._finished = asyncio.Event()
        self._record: ReplyFinished | None = None
        self._cancel_reason: str | None = None
        self._cancel_hook: Callable[[str], None] | None = None

    # -- producer side ---------------------------------------------------------------------
    def emit(self, event: ReplyEvent) -> None:
        if self._record is not None:
            return
        self._events.put_nowait(event)
        if isinstance(event, ReplyFinished):
            self._record = event
            self._finished.set()

    def on_cancel(self, hook: Callable[[str], None]) -> None:
        self._cancel_hook = hook

    @property
    def cancel_reason(self) -> str | None:
        return self._cancel_reason

    # -- consumer side ---------------------------------------------------------------------
    def cancel(self, reason: str = "stopped") -> None:
        """Stop this reply: the model call in flight is cancelled, nothing further starts."""
        if self._record is not None or self._cancel_reason is not None:
            return
        self._cancel_reason = reason
        if self._cancel_hook is not None:
            self._cancel_hook(reason)

    @property
    def done(self) -> bool:
        return self._record is not None

    async def result(self) -> ReplyFinished:
        await self._finished.wait()
        assert self._record is not None
        return self._record

    async def text(self) -> str:
        return (await self.result()).text

    def __aiter__(self) -> AsyncIterator[ReplyEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ReplyEvent]:
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, ReplyFinished):
                return
