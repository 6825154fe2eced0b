"""A local Discord stand-in (REST API v10 + gateway) for end-to-end tests of a discord.py bot.

    async with StandinDiscord() as standin:            # discord.py now points at it
        async with running_bot(standin, MyBot(...)):    # logs in, waits for on_ready
            await standin.user_message("skip", "alice", "hello")
            reply = await standin.wait_for_event(SentMessage, lambda m: m.channel_id == ...)
            assert standin.channel_texts("skip")[-1] == "..."
"""

from .bot_runner import DiscordPyProbe, running_bot
from .commands import OptionValue, RegisteredCommand
from .errors import ApiError
from .events import (
    CommandsSynced,
    DispatchSent,
    FollowUp,
    GatewayConnected,
    GatewayDisconnected,
    GatewayIdentified,
    GatewayResumed,
    HeartbeatReceived,
    InteractionCreated,
    InteractionRejected,
    InteractionResponse,
    MembersRequested,
    MessageDeleted,
    MessageEdit,
    MessageSource,
    PresenceUpdated,
    RateLimitHit,
    ReactionAdded,
    RecordedEvent,
    RequestRejected,
    RestCall,
    SentFile,
    SentMessage,
    ThreadCreated,
    TypingStarted,
    UserMessage,
    WebhookCreated,
    WebhookExecution,
)
from .gateway_session import GUILD_MESSAGES, GUILDS, MESSAGE_CONTENT, GatewaySession
from .interactions import StoredInteraction
from .messages import StoredAttachment, StoredMessage
from .patching import discord_pointed_at
from .ratelimits import RateLimitRule, WindowLimit
from .server import StandinDiscord
from .user_actions import ListenerProbe
from .views import VisibleMessage
from .world import (
    DEFAULT_CHANNELS,
    RoleSpec,
    StandinChannel,
    StandinConfig,
    StandinError,
    StandinRole,
    StandinUser,
    UserSpec,
)

__all__ = [
    "DEFAULT_CHANNELS",
    "GUILDS",
    "GUILD_MESSAGES",
    "MESSAGE_CONTENT",
    "ApiError",
    "CommandsSynced",
    "DiscordPyProbe",
    "DispatchSent",
    "FollowUp",
    "GatewayConnected",
    "GatewayDisconnected",
    "GatewayIdentified",
    "GatewayResumed",
    "GatewaySession",
    "HeartbeatReceived",
    "InteractionCreated",
    "InteractionRejected",
    "InteractionResponse",
    "ListenerProbe",
    "MembersRequested",
    "MessageDeleted",
    "MessageEdit",
    "MessageSource",
    "OptionValue",
    "PresenceUpdated",
    "RateLimitHit",
    "RateLimitRule",
    "ReactionAdded",
    "RecordedEvent",
    "RegisteredCommand",
    "RequestRejected",
    "RestCall",
    "RoleSpec",
    "SentFile",
    "SentMessage",
    "StandinChannel",
    "StandinConfig",
    "StandinDiscord",
    "StandinError",
    "StandinRole",
    "StandinUser",
    "StoredAttachment",
    "StoredInteraction",
    "StoredMessage",
    "ThreadCreated",
    "TypingStarted",
    "UserMessage",
    "UserSpec",
    "VisibleMessage",
    "WebhookCreated",
    "WebhookExecution",
    "WindowLimit",
    "discord_pointed_at",
    "running_bot",
]
