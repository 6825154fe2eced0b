"""What a person's message asks: the text for the agent, or a note to answer without a model.

Mentions are shown as names (``clean_content``); a reply carries a short quote of the
message it answers; attachments are named (not read); an over-long message is cut with a
note saying so. An empty message asks nothing. Text is only ever text: nothing in a
message runs a command or clicks a gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord

__all__ = ["Inbound", "read_message"]

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
