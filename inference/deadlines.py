"""Step layer: the time limits that decide fail-over.

Before the first event a step gets ``min(first_token, total)`` seconds; afterwards the
stream is cut only when no event arrives for ``first_token`` seconds, so a slow but alive
generation is never cut by a short total.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing

from inference.errors import NodeTimeout
from inference.step import Step, StepCaller, StepEvent
from inference.types import ChatRequest

__all__ = ["Deadlines"]


class Deadlines:
    def __init__(self, inner: StepCaller) -> None:
        self._inner = inner

    async def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        first_wait = min(step.timeouts.first_token, step.timeouts.total)
        idle_wait = step.timeouts.first_token
        async with aclosing(self._inner.stream(step, request)) as events:
            iterator = aiter(events)
            wait, waited_for = first_wait, "first token"
            while True:
                try:
                    async with asyncio.timeout(wait):
                        event = await anext(iterator)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise NodeTimeout(f"no {waited_for} within {wait:g}s") from None
                yield event
                wait, waited_for = idle_wait, "token"
