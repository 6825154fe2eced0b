"""Chief's typed messages (:class:`watch.messages.ChiefMessage`) as what discord.py sends:
an embed within Discord's size limits, its files, and the one role it may ping."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import discord

from bot.posting import NO_PINGS
from watch.messages import ChiefMessage

__all__ = ["ChiefPost", "chief_embed", "chief_post", "refusal"]

_TITLE, _DESCRIPTION, _FIELD_NAME, _FIELD_VALUE, _FOOTER = 256, 4096, 256, 1024, 2048
_FIELDS, _TOTAL = 25, 6000
_DESCRIPTION_RESERVE = 500  # fields stop short of the 6000-character total to leave this


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chief_embed(message: ChiefMessage) -> discord.Embed:
    """The embed for ``message`` (within Discord's size limits)."""
    title = _cut(message.title, _TITLE)
    footer = _cut(message.footer, _FOOTER)
    used = len(title) + len(footer)
    fields: list[tuple[str, str, bool]] = []
    for field in message.fields[:_FIELDS]:
        name = _cut(field.name, _FIELD_NAME) or "-"
        value = _cut(field.value, _FIELD_VALUE) or "-"
        if used + len(name) + len(value) > _TOTAL - _DESCRIPTION_RESERVE:
            break
        used += len(name) + len(value)
        fields.append((name, value, field.inline))
    room = max(1, min(_DESCRIPTION, _TOTAL - used))
    timestamp = (None if message.timestamp is None
                 else datetime.fromtimestamp(message.timestamp, UTC))
    embed = discord.Embed(title=title, description=_cut(message.body, room),
                          color=message.color, timestamp=timestamp)
    for name, value, inline in fields:
        embed.add_field(name=name, value=value, inline=inline)
    if footer:
        embed.set_footer(text=footer)
    if message.image:
        embed.set_image(url=f"attachment://{message.image}")
    return embed


@dataclass(frozen=True, slots=True)
class ChiefPost:
    """The keyword arguments of one send (a channel's or a webhook's)."""

    message: ChiefMessage
    role: discord.Role | None = None  # pinged only when the message asks for it

    def kwargs(self) -> dict[str, Any]:
        message = self.message
        kwargs: dict[str, Any] = {
            "embed": chief_embed(message),
            "files": [discord.File(io.BytesIO(a.data), a.filename) for a in message.attachments],
            "allowed_mentions": NO_PINGS,
        }
        if message.mention_role and self.role is not None:
            kwargs["content"] = self.role.mention
            kwargs["allowed_mentions"] = discord.AllowedMentions(
                everyone=False, users=False, roles=[self.role], replied_user=False)
        return kwargs


def chief_post(message: ChiefMessage, roles: list[discord.Role],
               role_name: str | None) -> ChiefPost:
    role = discord.utils.get(roles, name=role_name) if role_name else None
    return ChiefPost(message, role)


def refusal(exc: discord.HTTPException) -> str:
    """Discord's answer to a failed post: HTTP status, its error code and message."""
    return f"HTTP {exc.status}, code {exc.code}: {exc.text or exc.response.reason}"
