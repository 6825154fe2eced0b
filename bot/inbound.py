"""A person's message: which agent answers it, and what it asks — step 1 of 3.

**here** → :mod:`bot.reply` (the reply task, the team engine's turn) → :mod:`bot.streaming`
(the text posted and edited in Discord).

An agent answers a message in its channel, in a thread under its channel, or — anywhere
in the guild — a reply to one of its messages (a reply to the bot itself, or a mention
of it, goes to the orchestrator). Each place (channel or thread) holds one conversation
per agent in the team engine, so context follows the thread and survives restarts.

What it asks: the text for the agent, or a note to answer without a model.

Mentions are shown as names (``clean_content``); a reply carries a short quote of the
message it answers; attachments are named (not read); an over-long message is cut with a
note saying so. An empty message asks nothing. Text is only ever text: nothing in a
message runs a command or clicks a gate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from bot.context import BotContext
from personas.schema import Persona

__all__ = ["Inbound", "agent_for", "read_message"]

_QUOTE = 300


@dataclass(frozen=True, slots=True)
class Inbound:
    text: str | None = None  # what the agent is asked
    note: str | None = None  # what to answer straight away instead (no model call)


def read_message(message: discord.Message, *, max_chars: int) -> Inbound:
    content = message.clean_content.strip()
    names = [a.filename for a in message.attachments]
    if not content:
        if names:
            listed = ", ".join(names[:5])
            return Inbound(note=f"I can only read text for now — I see {listed}. Paste the "
                                "part you want me to look at, or tell me what to do with it.")
        return Inbound()
    if len(content) > max_chars:
        content = (f"{content[:max_chars]}\n\n[message cut: it was {len(content):,} characters; "
                   f"the first {max_chars:,} are above]")
    if names:
        content += f"\n\n[attached, not read: {', '.join(names[:5])}]"
    quoted = _quote(message)
    return Inbound(text=f"{quoted}{content}" if quoted else content)


def _quote(message: discord.Message) -> str:
    ref = message.reference
    resolved = ref.resolved if ref is not None else None
    if not isinstance(resolved, discord.Message) or not resolved.content:
        return ""
    snippet = " ".join(resolved.clean_content.split())
    if len(snippet) > _QUOTE:
        snippet = snippet[: _QUOTE - 1] + "…"
    return f"(replying to {resolved.author.display_name}: \"{snippet}\")\n"


# -- which agent ---------------------------------------------------------------------------
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
