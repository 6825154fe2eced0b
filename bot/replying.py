"""Which agent answers a message, and starting a tracked reply.

An agent answers a message in its channel, in a thread under its channel, or — anywhere
in the guild — a reply to one of its messages (a reply to the bot itself, or a mention
of it, goes to the orchestrator). Each place (channel or thread) holds one conversation
per agent in the team engine, so context follows the thread and survives restarts.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import discord

from bot.channels import Place, conversation_id
from bot.context import BotContext
from bot.session import ReplyRequest, run_reply, say
from bot.tracker import ReplyJob
from personas.schema import Persona

__all__ = ["Answer", "agent_for", "start_note", "start_reply"]

# An agent cog's handler: the reply it started, if any.
Answer = Callable[[discord.Message], Awaitable[ReplyJob | None]]


_BOT_PREFIX = re.compile(r"^\*\*([^*]{1,80}):\*\* ")


def agent_for(ctx: BotContext, message: discord.Message,
              me: discord.ClientUser | None) -> str | None:
    agent = ctx.channels.agent_of_place(message.channel)
    if agent is not None:
        return agent
    ref = message.reference.resolved if message.reference is not None else None
    if isinstance(ref, discord.Message):
        speaker = _speaker_of(ctx, ref, me)
        if speaker is not None:
            return speaker.name
    if me is not None and any(u.id == me.id for u in message.mentions):
        return ctx.roster.orchestrator.name
    return None


def _speaker_of(ctx: BotContext, message: discord.Message,
                me: discord.ClientUser | None) -> Persona | None:
    """The agent who wrote one of the bot's messages (webhook name or bold prefix)."""
    if message.webhook_id is not None and ctx.webhooks.known(message.webhook_id):
        return ctx.persona_named(message.author.name)
    if me is not None and message.author.id == me.id:
        match = _BOT_PREFIX.match(message.content)
        named = ctx.persona_named(match.group(1)) if match else None
        return named or ctx.roster.orchestrator
    return None


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
