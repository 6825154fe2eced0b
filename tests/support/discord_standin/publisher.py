"""Message life cycle shared by every path: store, dispatch over the gateway, record."""

from __future__ import annotations

from .events import MessageDeleted, MessageEdit, MessageSource, SentMessage
from .gateway import Gateway
from .message_payloads import message_payload
from .messages import MessageStore, StoredMessage
from .payloads import JSON
from .recorder import Recorder
from .snowflake import iso_now
from .world import World

__all__ = ["Publisher"]


class Publisher:
    def __init__(
        self, world: World, store: MessageStore, gateway: Gateway, recorder: Recorder
    ) -> None:
        self._world = world
        self._store = store
        self._gateway = gateway
        self._recorder = recorder

    def payload(self, message: StoredMessage) -> JSON:
        return message_payload(message, self._store, self._world)

    async def created(self, message: StoredMessage, *, interaction_id: int | None = None) -> JSON:
        """Store a new message, dispatch MESSAGE_CREATE (unless ephemeral) and record it."""
        self._store.add(message)
        body = self.payload(message)
        if not message.ephemeral:
            await self._gateway.dispatch("MESSAGE_CREATE", body)
        if message.source != "user":
            self._recorder.record(
                SentMessage(
                    message_id=message.id,
                    channel_id=message.channel_id,
                    content=message.content,
                    embeds=list(message.embeds),
                    components=list(message.components),
                    files=message.sent_files,
                    allowed_mentions=message.allowed_mentions,
                    reference_id=message.reference_id,
                    flags=message.flags,
                    source=message.source,
                    author_id=message.author_id,
                    webhook_id=message.webhook_id,
                    username=message.username,
                    avatar_url=message.avatar_url,
                    interaction_id=interaction_id,
                    ephemeral=message.ephemeral,
                )
            )
        return body

    async def edited(self, message: StoredMessage, changed: JSON, source: MessageSource) -> JSON:
        message.edited_timestamp = iso_now()
        message.edit_count += 1
        body = self.payload(message)
        if not message.ephemeral:
            await self._gateway.dispatch("MESSAGE_UPDATE", body)
        self._recorder.record(
            MessageEdit(
                message_id=message.id,
                channel_id=message.channel_id,
                content=message.content,
                embeds=list(message.embeds),
                components=list(message.components),
                files=message.sent_files,
                flags=message.flags,
                source=source,
                changed=changed,
            )
        )
        return body

    async def deleted(self, message: StoredMessage, source: MessageSource) -> None:
        message.deleted = True
        if not message.ephemeral:
            body = {"id": str(message.id), "channel_id": str(message.channel_id)}
            channel = self._world.find_channel(message.channel_id)
            if channel is None or not channel.is_dm:
                body["guild_id"] = str(self._world.guild_id)
            await self._gateway.dispatch("MESSAGE_DELETE", body)
        self._recorder.record(
            MessageDeleted(message_id=message.id, channel_id=message.channel_id, source=source)
        )
