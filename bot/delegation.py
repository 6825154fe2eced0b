"""Skip's delegation, shown in Discord.

Skip posts the plan where he was asked; each sub-task gets a thread in the specialist's
channel, where Skip hands over the task and the specialist's answer streams under its
own name; the plan message ticks off each step with a link to its thread. Skip's
combined report then streams back where the request was made (the session's own writer).
A finished sub-task is also written into the thread's conversation, so a follow-up
question in that thread is answered with the task in context.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiohttp
import discord

from bot.channels import Place, conversation_id
from bot.context import BotContext
from bot.posting import Poster
from bot.streaming import ReplyWriter
from bot.wording import closing_text, footer
from personas.schema import Persona
from team.events import PlanReady, ReplyEvent, StepDelta, StepFinished, StepResult, StepStarted

__all__ = ["DelegationPresenter"]

log = logging.getLogger(__name__)
_MARKS = {"complete": "✅", "failed": "⚠️", "refused": "⛔", "halted": "⏸️", "cancelled": "⏹️"}
_TASK_SHOWN = 300


@dataclass(slots=True)
class _Line:
    agent: str
    task: str
    thread_id: int | None = None
    status: str = "queued"
    reason: str | None = None


class DelegationPresenter:
    def __init__(self, ctx: BotContext, place: Place, requester: str) -> None:
        self._ctx = ctx
        self._place = place
        self._requester = requester
        self._skip = ctx.roster.orchestrator
        self._lines: list[_Line] = []
        self._notes: list[str] = []
        self._exits = AsyncExitStack()
        self._plan: ReplyWriter | None = None
        self._step: ReplyWriter | None = None
        self._step_place: Place | None = None

    async def __aenter__(self) -> Self:
        await self._exits.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._exits.__aexit__(exc_type, exc, tb)

    async def on(self, event: ReplyEvent) -> None:
        if isinstance(event, PlanReady):
            await self._planned(event)
        elif isinstance(event, StepStarted):
            await self._started(event)
        elif isinstance(event, StepDelta) and self._step is not None:
            self._step.append(event.text)
        elif isinstance(event, StepFinished):
            await self._finished(event.result)

    # -- the plan message -------------------------------------------------------------------
    async def _planned(self, ready: PlanReady) -> None:
        if not ready.plan.steps:
            return
        self._lines.extend(_Line(s.agent, s.task) for s in ready.plan.steps)
        if ready.source == "keywords":
            self._notes.append("_(assigned by specialty keywords)_")
        elif ready.plan.note:
            self._notes.append(f"_{ready.plan.note[:200]}_")
        if self._plan is None:
            poster = await self._ctx.poster_for(self._place, self._skip)
            self._plan = await self._writer(poster)
        self._refresh_plan()

    def _refresh_plan(self) -> None:
        if self._plan is None:
            return
        rows = ["**Plan** — handing this to the team:"]
        for number, line in enumerate(self._lines, start=1):
            who = self._persona(line.agent).display_name
            task = line.task if len(line.task) <= _TASK_SHOWN else line.task[:_TASK_SHOWN] + "…"
            where = f" → <#{line.thread_id}>" if line.thread_id else ""
            mark = _MARKS.get(line.status, "⏳")
            why = f" ({line.reason[:120]})" if line.reason and line.status != "complete" else ""
            rows.append(f"{number}. **{who}** — {task}{where} {mark}{why}")
        self._plan.set_text("\n".join(rows + self._notes))

    # -- sub-tasks --------------------------------------------------------------------------
    async def _started(self, event: StepStarted) -> None:
        persona = self._persona(event.agent)
        place = await self._thread_for(persona, event.task)
        self._step_place = place
        if event.index < len(self._lines):
            line = self._lines[event.index]
            line.status = "working"
            line.thread_id = place.id if place.id != self._place.id else None
        self._refresh_plan()
        if place.id != self._place.id:
            skip = await self._ctx.poster_for(place, self._skip)
            handover = (f"**Task for {persona.display_name}** (asked by {self._requester} in "
                        f"<#{self._place.id}>):\n{event.task}")
            await (await self._writer(skip)).finish(self._ctx.redact(handover)[:1900])
        self._step = await self._writer(await self._ctx.poster_for(place, persona))

    async def _finished(self, result: StepResult) -> None:
        persona = self._persona(result.agent)
        if self._step is not None:
            with_footer = self._step_place is not None and self._ctx.footer_on(self._step_place)
            calls = (result.done,) if result.done else ()
            await self._step.finish(closing_text(
                persona, result.status, result.text, result.reason, calls=calls,
                footer_line=footer(result.done) if with_footer else ""))
            self._step = None
        if result.index < len(self._lines):
            line = self._lines[result.index]
            line.status, line.reason = result.status, result.reason
        self._refresh_plan()
        place = self._step_place
        if result.status == "complete" and place is not None and place.id != self._place.id:
            await self._remember(place, persona, result)

    async def _thread_for(self, persona: Persona, task: str) -> Place:
        guild = self._place.guild
        channel = self._ctx.channels.find(guild, persona.name)
        if channel is None:
            return self._place
        name = " ".join(f"{persona.display_name}: {task}".split())[:90]
        try:
            return await channel.create_thread(
                name=name, type=discord.ChannelType.public_thread, auto_archive_duration=1440,
            )
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            why = exc.status if isinstance(exc, discord.HTTPException) else type(exc).__name__
            log.warning("cannot open a sub-task thread in #%s (%s); posting here instead",
                        channel.name, why)
            return self._place

    async def _remember(self, place: Place, persona: Persona, result: StepResult) -> None:
        """Put the hand-over and the answer into the thread's own conversation."""
        log_ = self._ctx.engine.conversations
        cid, turn = conversation_id(place.id, persona.name), uuid.uuid4().hex
        await log_.append(cid, role="user", agent=persona.name,
                          author=f"{self._skip.display_name} (for {self._requester})",
                          content=result.task, turn_id=turn)
        await log_.append(cid, role="agent", agent=persona.name, author=None,
                          content=result.text, turn_id=turn)

    # -- helpers ----------------------------------------------------------------------------
    async def _writer(self, poster: Poster) -> ReplyWriter:
        writer = ReplyWriter(poster, self._ctx.throttle,
                             interval=self._ctx.settings.edit_interval, clean=self._ctx.redact,
                             retry_window=self._ctx.settings.post_retry_window)
        return await self._exits.enter_async_context(writer)

    def _persona(self, agent: str) -> Persona:
        return self._ctx.engine.persona(agent)
