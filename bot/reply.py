"""One agent reply, from the person's message to the final edit: step 2 of 3.

:mod:`bot.inbound` (what a message asks, and which agent answers) → **here** (start the
reply as a task the :class:`~bot.tracker.ReplyTracker` owns, run the team engine's turn) →
:mod:`bot.streaming` (the text posted and edited in Discord).

The team engine starts the turn; typing shows ``typing_grace`` (0.1 s) after the agent
starts work; text streams into a :class:`~bot.streaming.ReplyWriter` under the persona's
name (while a tool runs, one transient line shows it: ``🔧 fetch · docs.example.org …``,
gone when the tool ends and from the final text); side-effect tools are approved with
buttons (:mod:`bot.tool_approval`); Skip's plan and sub-tasks go to a
:class:`~bot.delegation.DelegationPresenter`; the reply ends with what the record says
(stopped, halted, refused, failed → an in-character apology), any notices (e.g. a budget
reached) and the footer when the channel has it on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import discord

from bot.channels import Place, conversation_id
from bot.config import TYPING_INTERVAL_S
from bot.context import BotContext
from bot.delegation import DelegationPresenter
from bot.streaming import ReplyWriter
from bot.tool_approval import DiscordApprover
from bot.tracker import ReplyJob
from bot.wording import apology, record_closing, refusal
from inference.errors import InferenceError
from personas.schema import Persona
from store.errors import StoreError
from team.errors import Refused
from team.events import ReplyFinished, Started, TextDelta, ToolFinished, ToolStarted, Waiting
from team.replies import ReplyHandle
from team.tools import Approver

__all__ = ["Answer", "ReplyRequest", "run_reply", "say", "start_note", "start_reply"]

log = logging.getLogger(__name__)

# An agent cog's handler: the reply it started, if any.
Answer = Callable[[discord.Message], Awaitable[ReplyJob | None]]


def start_reply(ctx: BotContext, persona: Persona, place: Place, *, author: str, text: str = "",
                retry: bool = False, reference: discord.Message | None = None,
                conversation: str | None = None) -> ReplyJob:
    """Start ``persona``'s reply in ``place`` as a task the tracker owns."""
    cid = conversation or conversation_id(place.id, persona.name)
    job = ReplyJob(place.id, cid, persona.name)
    request = ReplyRequest(persona, place, cid, author, text, retry, reference)
    return ctx.tracker.start(job, run_reply(ctx, job, request))


def start_note(ctx: BotContext, persona: Persona, place: Place, text: str, *,
               reference: discord.Message | None = None) -> ReplyJob:
    """Post a fixed answer as ``persona`` (no model call), tracked like a reply."""
    job = ReplyJob(place.id, conversation_id(place.id, persona.name), persona.name)
    return ctx.tracker.start(job, say(ctx, persona, place, text, reference=reference))


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    persona: Persona
    place: Place
    conversation_id: str
    author: str
    text: str = ""
    retry: bool = False
    reference: discord.Message | None = None


async def run_reply(ctx: BotContext, job: ReplyJob, request: ReplyRequest) -> None:
    """The body of a reply task (started through :class:`~bot.tracker.ReplyTracker`)."""
    progress = _Progress()
    typing = asyncio.create_task(_keep_typing(ctx, request.place, progress), name="typing")
    try:
        handle = await _begin(ctx, request)
        if isinstance(handle, str):
            await _say(ctx, request, handle)
            return
        job.attach(handle)
        await _stream(ctx, request, handle, progress)
    finally:
        typing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await typing


async def _begin(ctx: BotContext, request: ReplyRequest) -> ReplyHandle | str:
    """The engine's handle, or what to say instead (a refusal, an apology)."""
    engine = ctx.engine
    try:
        if request.retry:
            return await engine.retry(request.conversation_id, author=request.author,
                                      approver=_approver(ctx, request))
        return await engine.reply(request.conversation_id, request.persona.name, request.text,
                                  author=request.author, approver=_approver(ctx, request))
    except Refused as exc:
        return refusal(request.persona, "; ".join(exc.reasons))
    except (InferenceError, StoreError) as exc:
        log.warning("could not start a reply: %s", ctx.redact(str(exc)))
        return apology(request.persona, str(exc))


def _approver(ctx: BotContext, request: ReplyRequest) -> Approver | None:
    """Approve / Deny buttons in the reply's place, when the agent has tools (no cost per
    message otherwise)."""
    if ctx.toolbox is None or not request.persona.tools:
        return None
    return DiscordApprover(ctx, request.place, request.persona)


async def _stream(ctx: BotContext, request: ReplyRequest, handle: ReplyHandle,
                  progress: _Progress) -> None:
    record: ReplyFinished | None = None
    poster = await ctx.poster_for(request.place, request.persona, reference=request.reference)
    writer = ReplyWriter(poster, ctx.throttle, interval=ctx.settings.edit_interval,
                         clean=ctx.redact, retry_window=ctx.settings.post_retry_window)
    async with writer, DelegationPresenter(ctx, request.place, request.author) as plan:
        async for event in handle:
            if isinstance(event, TextDelta):
                progress.started.set()
                progress.texting.set()
                writer.append(event.text)
            elif isinstance(event, Started):
                progress.started.set()
            elif isinstance(event, Waiting):
                writer.placeholder(f"_⏸️ {event.reason}_")
            elif isinstance(event, ToolStarted):
                progress.started.set()
                writer.status(event.line())
            elif isinstance(event, ToolFinished):
                writer.status("")
            elif isinstance(event, ReplyFinished):
                record = event
            else:
                try:
                    await plan.on(event)
                except (discord.HTTPException, InferenceError) as exc:  # the reply goes on
                    log.warning("could not show the delegation: %s", ctx.redact(str(exc)))
        if record is not None:
            closing = record_closing(request.persona, record,
                                     with_footer=ctx.footer_on(request.place))
            await writer.finish(closing)


async def _say(ctx: BotContext, request: ReplyRequest, text: str) -> None:
    await say(ctx, request.persona, request.place, text, reference=request.reference)


async def say(ctx: BotContext, persona: Persona, place: Place, text: str, *,
              reference: discord.Message | None = None) -> None:
    """Post ``text`` as ``persona`` (no model call), split like any reply."""
    poster = await ctx.poster_for(place, persona, reference=reference)
    async with ReplyWriter(poster, ctx.throttle, interval=ctx.settings.edit_interval,
                           clean=ctx.redact, retry_window=ctx.settings.post_retry_window) as writer:
        await writer.finish(text)


@dataclass(slots=True)
class _Progress:
    started: asyncio.Event = field(default_factory=asyncio.Event)  # the agent is at work
    texting: asyncio.Event = field(default_factory=asyncio.Event)  # its first text is in
    # (texting implies started: both are set at the first text)


async def _keep_typing(ctx: BotContext, place: Place, progress: _Progress) -> None:
    """Typing until the first text, from ``typing_grace`` seconds after the agent started
    (a reply whose text comes sooner needs none; during a burst of messages, replies that
    wait for a start-up slot do not spend Discord calls ahead of the ones starting)."""
    texting = progress.texting
    await progress.started.wait()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ctx.settings.typing_grace):
            await texting.wait()
    while not texting.is_set():
        await ctx.typing.trigger(place)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TYPING_INTERVAL_S):
                await texting.wait()

