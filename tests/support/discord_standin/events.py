"""Typed records of everything that happened on the stand-in, in order, with timestamps.

Every record has `at` (``time.monotonic()`` when it happened).  Message-level records
(`SentMessage`, `MessageEdit`, `MessageDeleted`) are written for every path that creates or
changes a message (REST, webhook, interaction callback, follow-up); the API-level records
(`WebhookExecution`, `InteractionResponse`, `FollowUp`, ...) say which call did it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CommandsSynced",
    "DispatchSent",
    "FollowUp",
    "GatewayConnected",
    "GatewayDisconnected",
    "GatewayIdentified",
    "GatewayResumed",
    "HeartbeatReceived",
    "InteractionCreated",
    "InteractionRejected",
    "InteractionResponse",
    "MembersRequested",
    "MessageDeleted",
    "MessageEdit",
    "MessageSource",
    "PresenceUpdated",
    "RateLimitHit",
    "ReactionAdded",
    "RecordedEvent",
    "RequestRejected",
    "RestCall",
    "SentFile",
    "SentMessage",
    "ThreadCreated",
    "TypingStarted",
    "UserMessage",
    "WebhookCreated",
    "WebhookExecution",
]

MessageSource = Literal["rest", "webhook", "interaction", "followup", "user"]
JSON = dict[str, Any]


def _now() -> float:
    return time.monotonic()


@dataclass(frozen=True, kw_only=True)
class RecordedEvent:
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class SentFile:
    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None


# -- REST, generic ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RestCall(RecordedEvent):
    """Any REST request the bot made, after it was answered."""

    method: str
    path: str
    status: int
    query: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class RequestRejected(RecordedEvent):
    """A 4xx (other than 429) the stand-in answered, with Discord's error code."""

    method: str
    path: str
    status: int
    code: int
    message: str


@dataclass(frozen=True, kw_only=True)
class RateLimitHit(RecordedEvent):
    method: str
    path: str
    retry_after: float
    is_global: bool


# -- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SentMessage(RecordedEvent):
    """A message came into existence (any path).  `author_id` is the webhook id for webhooks."""

    message_id: int
    channel_id: int
    content: str
    embeds: list[JSON]
    components: list[JSON]
    files: list[SentFile]
    allowed_mentions: JSON | None
    reference_id: int | None
    flags: int
    source: MessageSource
    author_id: int
    webhook_id: int | None = None
    username: str | None = None
    avatar_url: str | None = None
    interaction_id: int | None = None
    ephemeral: bool = False


@dataclass(frozen=True, kw_only=True)
class MessageEdit(RecordedEvent):
    """A message changed; `content` etc. are the full values after the edit."""

    message_id: int
    channel_id: int
    content: str
    embeds: list[JSON]
    components: list[JSON]
    files: list[SentFile]
    flags: int
    source: MessageSource
    changed: JSON


@dataclass(frozen=True, kw_only=True)
class MessageDeleted(RecordedEvent):
    message_id: int
    channel_id: int
    source: MessageSource


@dataclass(frozen=True, kw_only=True)
class UserMessage(RecordedEvent):
    """A test user posted (dispatched as MESSAGE_CREATE)."""

    message_id: int
    channel_id: int
    author_id: int
    content: str


@dataclass(frozen=True, kw_only=True)
class TypingStarted(RecordedEvent):
    channel_id: int


@dataclass(frozen=True, kw_only=True)
class ReactionAdded(RecordedEvent):
    channel_id: int
    message_id: int
    emoji: str


@dataclass(frozen=True, kw_only=True)
class ThreadCreated(RecordedEvent):
    thread_id: int
    parent_id: int
    name: str
    message_id: int | None
    private: bool


# -- webhooks ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WebhookCreated(RecordedEvent):
    webhook_id: int
    channel_id: int
    name: str


@dataclass(frozen=True, kw_only=True)
class WebhookExecution(RecordedEvent):
    webhook_id: int
    channel_id: int
    thread_id: int | None
    message_id: int
    content: str
    username: str | None
    avatar_url: str | None
    wait: bool
    files: list[SentFile]


# -- interactions and commands -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InteractionCreated(RecordedEvent):
    """A test user invoked a command / clicked / submitted (dispatched as INTERACTION_CREATE)."""

    interaction_id: int
    type: int
    name: str
    user_id: int
    channel_id: int


@dataclass(frozen=True, kw_only=True)
class InteractionResponse(RecordedEvent):
    """`POST /interactions/{id}/{token}/callback` accepted; `latency` is seconds since creation."""

    interaction_id: int
    response_type: int
    data: JSON
    files: list[SentFile]
    message_id: int | None
    ephemeral: bool
    latency: float


@dataclass(frozen=True, kw_only=True)
class InteractionRejected(RecordedEvent):
    """A callback Discord would refuse: too late (10062) or already acknowledged (40060)."""

    interaction_id: int
    reason: str
    code: int


@dataclass(frozen=True, kw_only=True)
class FollowUp(RecordedEvent):
    """`POST /webhooks/{app_id}/{interaction_token}`; `replaced_loading` if it filled a defer."""

    interaction_id: int
    message_id: int
    content: str
    embeds: list[JSON]
    files: list[SentFile]
    ephemeral: bool
    replaced_loading: bool


@dataclass(frozen=True, kw_only=True)
class CommandsSynced(RecordedEvent):
    """A bulk overwrite of application commands."""

    scope: Literal["guild", "global"]
    guild_id: int | None
    commands: list[JSON]

    @property
    def names(self) -> list[str]:
        return [str(c.get("name")) for c in self.commands]


# -- gateway -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GatewayConnected(RecordedEvent):
    path: str
    query: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class GatewayIdentified(RecordedEvent):
    session_id: str
    intents: int
    properties: JSON


@dataclass(frozen=True, kw_only=True)
class GatewayResumed(RecordedEvent):
    session_id: str
    client_seq: int
    replayed: int


@dataclass(frozen=True, kw_only=True)
class GatewayDisconnected(RecordedEvent):
    session_id: str | None
    code: int | None
    by_server: bool


@dataclass(frozen=True, kw_only=True)
class HeartbeatReceived(RecordedEvent):
    """`interval` is seconds since the previous heartbeat on this socket (None for the first)."""

    session_id: str | None
    client_seq: int | None
    interval: float | None
    ack_latency: float


@dataclass(frozen=True, kw_only=True)
class DispatchSent(RecordedEvent):
    session_id: str
    seq: int
    event: str
    data: JSON
    replay: bool


@dataclass(frozen=True, kw_only=True)
class PresenceUpdated(RecordedEvent):
    status: str | None
    activities: list[JSON]


@dataclass(frozen=True, kw_only=True)
class MembersRequested(RecordedEvent):
    guild_id: int
    nonce: str | None
