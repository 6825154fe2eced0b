"""Waiting on state owned by another process or thread (a server's queue, a scrape)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["wait_until"]


async def wait_until(condition: Callable[[], Awaitable[bool] | bool], *, within: float = 20.0,
                     what: str = "condition") -> None:
    """Poll ``condition`` (sync or async) with a short backoff; fail after ``within`` s.

    For state with no event to wait on; in-process state should expose an event instead.
    """
    deadline = time.monotonic() + within
    delay = 0.01
    while True:
        value = condition()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.25)
