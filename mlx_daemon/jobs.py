"""One request's life between the HTTP handler (asyncio) and the compute worker (thread).

The worker reports progress as events pushed into the job's :class:`EventChannel`
(thread-safe, via ``loop.call_soon_threadsafe``); the handler awaits them. The first event
is :class:`Accepted` (prompt tokenized, within the context limit, model loaded) or
:class:`Failed`; then :class:`Delta` texts, then :class:`Finished` (or :class:`Failed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field

from mlx_daemon.errors import ApiError
from mlx_daemon.protocol import GenerationRequest, Usage
from mlx_daemon.tools import ToolPlan

__all__ = [
    "Accepted",
    "Delta",
    "EventChannel",
    "Failed",
    "Finished",
    "Job",
    "JobEvent",
    "JobIds",
    "Outbox",
]


@dataclass(frozen=True, slots=True)
class Accepted:
    prompt_tokens: int
    max_tokens: int
    tools: ToolPlan | None = None  # how to find tool calls in the reply


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    finish_reason: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class Failed:
    error: ApiError


JobEvent = Accepted | Delta | Finished | Failed


class EventChannel:
    """Events of one job, sent from the worker thread and received on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._queue: asyncio.Queue[JobEvent] = asyncio.Queue()

    def put(self, event: JobEvent) -> None:
        """Deliver an event (event-loop thread only)."""
        self._queue.put_nowait(event)

    async def receive(self) -> JobEvent:
        return await self._queue.get()

    def receive_nowait(self) -> JobEvent | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None


def _deliver(items: list[tuple[EventChannel, JobEvent]]) -> None:
    for channel, event in items:
        channel.put(event)


class Outbox:
    """Events collected on the worker thread, handed to the event loop in one wake-up.

    One ``call_soon_threadsafe`` per flush (not per token) keeps the loop's self-pipe and
    the GIL quiet when many streams are generating at once.
    """

    def __init__(self) -> None:
        self._items: list[tuple[EventChannel, JobEvent]] = []

    def add(self, job: Job, event: JobEvent) -> None:
        self._items.append((job.channel, event))

    def flush(self) -> None:
        items, self._items = self._items, []
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[EventChannel, JobEvent]]] = {}
        for item in items:
            by_loop.setdefault(item[0].loop, []).append(item)
        for loop, batch in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
                loop.call_soon_threadsafe(_deliver, batch)


class JobIds:
    """A thread-safe counter of job ids (``itertools.count`` is atomic under the GIL)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self) -> int:
        return next(self._counter)


@dataclass(eq=False)
class Job:
    """A request in flight. ``cancelled`` is written under the worker's lock."""

    id: int
    request: GenerationRequest
    channel: EventChannel
    received: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    @property
    def model(self) -> str:
        return self.request.model
