"""Interactions the test users start, and the INTERACTION_CREATE payloads for them."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from .errors import ApiError
from .payloads import JSON, channel_payload, member_payload
from .snowflake import SnowflakeFactory
from .world import StandinChannel, StandinUser, World

__all__ = [
    "APPLICATION_COMMAND",
    "MESSAGE_COMPONENT",
    "MODAL_SUBMIT",
    "InteractionStore",
    "StoredInteraction",
    "find_component",
    "interaction_payload",
]

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
MODAL_SUBMIT = 5


@dataclass
class StoredInteraction:
    """An interaction a test user started; the bot's responses are tracked on it."""

    id: int
    token: str
    type: int
    name: str
    channel_id: int
    user: StandinUser
    source_message_id: int | None = None
    created_at: float = field(default_factory=time.monotonic)
    response_type: int | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    modal: JSON | None = None

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def age(self) -> float:
        return time.monotonic() - self.created_at


class InteractionStore:
    def __init__(self, ids: SnowflakeFactory) -> None:
        self._ids = ids
        self._by_id: dict[int, StoredInteraction] = {}
        self._by_token: dict[str, StoredInteraction] = {}

    def new(
        self, type_: int, name: str, channel: StandinChannel, user: StandinUser,
        source_message_id: int | None = None,
    ) -> StoredInteraction:
        interaction = StoredInteraction(
            self._ids.next(), f"itok_{secrets.token_urlsafe(24)}", type_, name, channel.id, user,
            source_message_id,
        )
        self._by_id[interaction.id] = interaction
        self._by_token[interaction.token] = interaction
        return interaction

    def by_token(self, token: str) -> StoredInteraction | None:
        return self._by_token.get(token)

    def get(self, interaction_id: int, token: str) -> StoredInteraction:
        found = self._by_id.get(interaction_id)
        if found is None or found.token != token:
            raise ApiError.unknown("interaction", 10062)
        return found

    def find(self, interaction_id: int) -> StoredInteraction | None:
        return self._by_id.get(interaction_id)


def interaction_payload(
    interaction: StoredInteraction, data: JSON, world: World, *, message: JSON | None = None
) -> JSON:
    channel = world.channel(interaction.channel_id)
    member = member_payload(interaction.user)
    member["permissions"] = str(world.permissions_of(interaction.user))
    channel_body = channel_payload(channel, world.guild_id)
    channel_body["permissions"] = str(world.permissions_of(world.bot_user))
    payload: JSON = {
        "id": str(interaction.id),
        "application_id": str(world.application_id),
        "type": interaction.type,
        "data": data,
        "guild_id": str(world.guild_id),
        "guild": {"id": str(world.guild_id), "locale": "en-US", "features": []},
        "channel_id": str(channel.id),
        "channel": channel_body,
        "member": member,
        "token": interaction.token,
        "version": 1,
        "app_permissions": str(world.permissions_of(world.bot_user)),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(world.guild_id)},
        "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if message is not None:
        payload["message"] = message
    return payload


def find_component(components: list[JSON], custom_id: str) -> JSON | None:
    """Depth-first search of a message's components (rows, containers, sections)."""
    stack = list(reversed(components))
    while stack:
        item = stack.pop()
        if item.get("custom_id") == custom_id:
            return item
        children = list(item.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(item.get(key), dict):
                children.append(item[key])
        stack.extend(reversed(children))
    return None
