"""Start-up slots: under a burst of messages, turns start their model calls a few at a
time, in the order they came.

Without them every turn's start-up work (history, prompt, connection) interleaves with
every other's, so all the requests leave at about the time the last one could: the first
person to ask waits as long as the last. A turn holds a slot from its start until its
first model request is on the wire (:func:`inference.sent.request_sent`) or ``hold``
seconds have passed, whichever is first, so a slow start (a cache or database that
hangs) never holds the others up for longer than that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from inference.sent import notify_when_sent

__all__ = ["StartupSlots"]


class StartupSlots:
    def __init__(self, slots: int, hold: float) -> None:
        self._free = asyncio.Semaphore(slots)
        self._hold = hold

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the start of the enclosed turn."""
        await self._free.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._free.release()
                timer.cancel()

        timer = asyncio.get_running_loop().call_later(self._hold, release)
        try:
            with notify_when_sent(release):
                yield
        finally:
            release()
