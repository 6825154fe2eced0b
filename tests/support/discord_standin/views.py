"""What a user sees: a channel's messages in order, each in its final state after edits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .messages import StoredMessage

__all__ = ["VisibleMessage", "visible"]


@dataclass(frozen=True)
class VisibleMessage:
    id: int
    channel_id: int
    author_id: int
    author_name: str
    is_bot: bool
    webhook_id: int | None
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    attachments: list[str]
    edited: bool
    ephemeral: bool
    loading: bool
    reference_id: int | None
    thread_id: int | None
    allowed_mentions: dict[str, Any] | None


def visible(message: StoredMessage) -> VisibleMessage:
    return VisibleMessage(
        id=message.id,
        channel_id=message.channel_id,
        author_id=message.author_id,
        author_name=message.author_name,
        is_bot=message.author is None or message.author.bot,
        webhook_id=message.webhook_id,
        content=message.content,
        embeds=list(message.embeds),
        components=list(message.components),
        attachments=[a.filename for a in message.attachments],
        edited=message.edit_count > 0,
        ephemeral=message.ephemeral,
        loading=message.loading,
        reference_id=message.reference_id,
        thread_id=message.thread_id,
        allowed_mentions=message.allowed_mentions,
    )
