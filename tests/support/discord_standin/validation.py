"""Discord's limits on message bodies, so a bot that breaks them fails here as it would live."""

from __future__ import annotations

from typing import Any

from .errors import ApiError
from .messages import StoredMessage

__all__ = ["check_message", "check_payload"]

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ROWS = 5
MAX_CUSTOM_ID = 100
_EMBED_LIMITS = {"title": 256, "description": 4096}


def check_payload(payload: dict[str, Any]) -> None:
    """Checks that apply to the request fields themselves."""
    content = payload.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        raise ApiError.invalid_form(
            "content", f"Must be {MAX_CONTENT} or fewer in length.", "BASE_TYPE_MAX_LENGTH"
        )
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise ApiError.invalid_form("embeds", f"Must be {MAX_EMBEDS} or fewer in length.")
    total = 0
    for index, embed in enumerate(embeds):
        total += _check_embed(index, embed)
    if total > MAX_EMBED_TOTAL:
        raise ApiError.invalid_form("embeds", "Embed size exceeds maximum size of 6000")
    _check_components(payload.get("components") or [])


def _check_embed(index: int, embed: dict[str, Any]) -> int:
    size = 0
    for key, limit in _EMBED_LIMITS.items():
        value = str(embed.get(key) or "")
        if len(value) > limit:
            raise ApiError.invalid_form(
                f"embeds.{index}.{key}", f"Must be {limit} or fewer in length.",
                "BASE_TYPE_MAX_LENGTH",
            )
        size += len(value)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise ApiError.invalid_form(f"embeds.{index}.fields", "Must be 25 or fewer in length.")
    for field in fields:
        if len(str(field.get("name", ""))) > 256 or len(str(field.get("value", ""))) > 1024:
            raise ApiError.invalid_form(f"embeds.{index}.fields", "Field too long.")
        size += len(str(field.get("name", ""))) + len(str(field.get("value", "")))
    size += len(str((embed.get("footer") or {}).get("text", "")))
    size += len(str((embed.get("author") or {}).get("name", "")))
    return size


def _check_components(components: list[dict[str, Any]]) -> None:
    top_rows = [c for c in components if c.get("type") == 1]
    if len(top_rows) > MAX_ROWS:
        raise ApiError.invalid_form("components", f"Must be {MAX_ROWS} or fewer in length.")
    for row in top_rows:
        if len(row.get("components") or []) > 5:
            raise ApiError.invalid_form("components", "Must be 5 or fewer in length.")
    stack = list(components)
    while stack:
        item = stack.pop()
        custom_id = item.get("custom_id")
        if custom_id is not None and len(str(custom_id)) > MAX_CUSTOM_ID:
            raise ApiError.invalid_form("components", "custom_id must be 100 or fewer in length.")
        stack.extend(item.get("components") or [])
        if isinstance(item.get("accessory"), dict):
            stack.append(item["accessory"])


def check_message(message: StoredMessage) -> None:
    """A message must end up with something to show."""
    if message.loading:
        return
    if message.content.strip() or message.embeds or message.attachments or message.components:
        return
    raise ApiError(400, 50006, "Cannot send an empty message")
