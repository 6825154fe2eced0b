"""Every reply in progress, by place (channel or thread): for ``/stop``, ``/retry`` and a
clean shutdown. The tracker owns the reply tasks; nothing the bot starts is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from team.replies import ReplyHandle

__all__ = ["ReplyJob", "ReplyTracker"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ReplyJob:
    place_id: int
    conversation_id: str
    agent: str
    task: asyncio.Task[None] | None = None
    handle: ReplyHandle | None = None
    stop_reason: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    begun: asyncio.Event = field(default_factory=asyncio.Event)  # the engine took it

    def attach(self, handle: ReplyHandle) -> None:
        """The engine's handle; a /stop that came before it applies now."""
        self.handle = handle
        self.begun.set()
        if self.stop_reason is not None:
            handle.cancel(self.stop_reason)

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.handle is not None:
            self.handle.cancel(reason)


class ReplyTracker:
    def __init__(self) -> None:
        self._jobs: dict[asyncio.Task[None], ReplyJob] = {}
        self._last: dict[int, str] = {}  # place -> latest conversation answered there
        self.failures = 0

    def __len__(self) -> int:
        return len(self._jobs)

    def start(self, job: ReplyJob, work: Coroutine[Any, Any, None]) -> ReplyJob:
        task = asyncio.create_task(work, name=f"reply-{job.agent}-{job.place_id}")
        job.task = task
        self._jobs[task] = job
        self._last[job.place_id] = job.conversation_id
        task.add_done_callback(self._finished)
        return job

    def _finished(self, task: asyncio.Task[None]) -> None:
        job = self._jobs.pop(task, None)
        if job is not None:
            job.begun.set()
            job.done.set()
        if not task.cancelled() and task.exception() is not None:
            self.failures += 1
            log.error("a reply task failed", exc_info=task.exception())

    def in_place(self, place_id: int) -> list[ReplyJob]:
        return [j for j in self._jobs.values() if j.place_id == place_id]

    def last_conversation(self, place_id: int) -> str | None:
        return self._last.get(place_id)

    def stop(self, place_id: int, reason: str) -> list[ReplyJob]:
        jobs = self.in_place(place_id)
        for job in jobs:
            job.stop(reason)
        return jobs

    async def wait_idle(self) -> None:
        while self._jobs:
            await asyncio.wait(list(self._jobs))

    async def shutdown(self, grace: float) -> None:
        """Stop every reply, give them ``grace`` seconds to post their last edit, then cancel."""
        for job in list(self._jobs.values()):
            job.stop("the bot is shutting down")
        tasks = list(self._jobs)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
