"""Message JSON as the gateway and REST return it, including who actually gets pinged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .messages import MessageStore, StoredMessage
from .payloads import JSON, channel_payload, member_payload, user_payload
from .world import World

__all__ = ["Pings", "message_payload", "resolve_pings"]

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass(frozen=True)
class Pings:
    """Who a message notifies, after `allowed_mentions` is applied."""

    everyone: bool
    user_ids: tuple[int, ...]
    role_ids: tuple[int, ...]


def _allowed(allowed: dict[str, Any] | None, kind: str, ids: list[int]) -> list[int]:
    if allowed is None:
        return ids
    parse = allowed.get("parse") or []
    if kind in parse:
        return ids
    explicit = {int(x) for x in allowed.get(kind) or []}
    return [i for i in ids if i in explicit]


def resolve_pings(message: StoredMessage, store: MessageStore, world: World) -> Pings:
    allowed = message.allowed_mentions
    content = message.content
    users = [int(x) for x in _USER_MENTION.findall(content) if int(x) in world.users]
    users += [u for u in message.extra_mention_ids if u not in users]
    roles = [int(x) for x in _ROLE_MENTION.findall(content) if int(x) in world.roles]
    user_ids = _allowed(allowed, "users", users)
    role_ids = _allowed(allowed, "roles", roles)
    wants_everyone = "@everyone" in content or "@here" in content
    everyone = wants_everyone and (allowed is None or "everyone" in (allowed.get("parse") or []))
    replied = store.find(message.reference_id) if message.reference_id else None
    ping_reply = allowed is None or bool(allowed.get("replied_user", False))
    replied_author = None if replied is None else replied.author
    if ping_reply and replied_author is not None and replied_author.id not in user_ids:
        user_ids.append(replied_author.id)
    return Pings(everyone, tuple(user_ids), tuple(role_ids))


def _author(message: StoredMessage) -> JSON:
    if message.webhook_id is not None and message.author is None:
        return {
            "id": str(message.webhook_id),
            "username": message.author_name,
            "discriminator": "0000",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
        }
    assert message.author is not None
    return user_payload(message.author)


def message_payload(
    message: StoredMessage, store: MessageStore, world: World, *, nested: bool = False
) -> JSON:
    pings = resolve_pings(message, store, world)
    channel = world.find_channel(message.channel_id)
    in_dm = channel is not None and channel.is_dm
    body: JSON = {
        "id": str(message.id),
        "channel_id": str(message.channel_id),
        "author": _author(message),
        "content": message.content,
        "timestamp": message.timestamp,
        "edited_timestamp": message.edited_timestamp,
        "tts": False,
        "mention_everyone": pings.everyone,
        "mentions": [_mention(world, uid) for uid in pings.user_ids],
        "mention_roles": [str(r) for r in pings.role_ids],
        "attachments": [a.payload() for a in message.attachments],
        "embeds": message.embeds,
        "components": message.components,
        "pinned": False,
        "type": message.type,
        "flags": message.flags,
    }
    if not in_dm:
        body["guild_id"] = str(world.guild_id)
    if message.author is not None and message.webhook_id is None and not in_dm:
        body["member"] = member_payload(message.author, with_user=False)
    if message.webhook_id is not None:
        body["webhook_id"] = str(message.webhook_id)
    if message.application_id is not None:
        body["application_id"] = str(message.application_id)
    if message.interaction_metadata is not None:
        body["interaction_metadata"] = message.interaction_metadata
    if message.thread_id is not None:
        thread = world.find_channel(message.thread_id)
        if thread is not None:
            body["thread"] = channel_payload(thread, world.guild_id)
    if message.reference_id is not None:
        _add_reference(body, message, store, world, nested)
    return body


def _mention(world: World, user_id: int) -> JSON:
    user = world.users[user_id]
    body = user_payload(user)
    body["member"] = member_payload(user, with_user=False)
    return body


def _add_reference(
    body: JSON, message: StoredMessage, store: MessageStore, world: World, nested: bool
) -> None:
    assert message.reference_id is not None
    referenced = store.find(message.reference_id)
    channel_id = message.channel_id if referenced is None else referenced.channel_id
    body["message_reference"] = {
        "type": 0,
        "message_id": str(message.reference_id),
        "channel_id": str(channel_id),
        "guild_id": str(world.guild_id),
    }
    if not nested:
        body["referenced_message"] = (
            None if referenced is None else message_payload(referenced, store, world, nested=True)
        )
