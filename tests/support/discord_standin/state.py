"""Everything the stand-in holds, shared by the REST handlers, the gateway and the test API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .commands import CommandRegistry
from .faults import Faults
from .gateway import Gateway
from .interactions import InteractionStore
from .messages import MessageStore
from .payloads import JSON, user_payload
from .publisher import Publisher
from .ratelimits import RateLimiter
from .recorder import Recorder
from .snowflake import SnowflakeFactory
from .world import StandinConfig, World

__all__ = ["StandinState", "StoredWebhook"]


@dataclass
class StoredWebhook:
    id: int
    token: str
    channel_id: int
    name: str
    avatar: str | None = None
    deleted: bool = False


class StandinState:
    def __init__(self, config: StandinConfig) -> None:
        self.config = config
        self.ids = SnowflakeFactory()
        self.world = World(config, self.ids)
        self.recorder = Recorder()
        self.store = MessageStore(self.ids)
        self.gateway = Gateway(self.world, self.recorder)
        self.publisher = Publisher(self.world, self.store, self.gateway, self.recorder)
        self.interactions = InteractionStore(self.ids)
        self.commands = CommandRegistry(self.ids, self.world.application_id)
        self.ratelimits = RateLimiter(config.ratelimit_limit)
        self.webhooks: dict[int, StoredWebhook] = {}
        self.faults = Faults()

    def new_webhook(self, channel_id: int, name: str, avatar: str | None) -> StoredWebhook:
        webhook = StoredWebhook(
            self.ids.next(), secrets.token_urlsafe(48), channel_id, name, avatar
        )
        self.webhooks[webhook.id] = webhook
        return webhook

    def live_webhooks(self, channel_id: int | None = None) -> list[StoredWebhook]:
        return [
            w for w in self.webhooks.values()
            if not w.deleted and (channel_id is None or w.channel_id == channel_id)
        ]

    def webhook_payload(self, webhook: StoredWebhook) -> JSON:
        return {
            "id": str(webhook.id),
            "type": 1,
            "guild_id": str(self.world.guild_id),
            "channel_id": str(webhook.channel_id),
            "name": webhook.name,
            "avatar": webhook.avatar,
            "token": webhook.token,
            "application_id": str(self.world.application_id),
            "user": user_payload(self.world.bot_user),
        }
