"""What test users do: post messages, run slash commands, click buttons, submit modals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from .commands import OptionValue, build_options
from .events import InteractionCreated, UserMessage
from .interactions import (
    APPLICATION_COMMAND,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    StoredInteraction,
    find_component,
    interaction_payload,
)
from .messages import StoredMessage
from .payloads import JSON
from .state import StandinState
from .world import ChannelRef, StandinChannel, StandinError, StandinUser, UserRef

__all__ = ["Attachment", "ListenerProbe", "UserActions"]

REPLY = 19
Attachment = tuple[str, bytes] | tuple[str, bytes, str]


class ListenerProbe(Protocol):
    """Lets the stand-in wait until the bot is listening before a click/submit is dispatched."""

    def component_ready(self, message_id: int, component_type: int, custom_id: str) -> bool: ...

    def modal_ready(self, custom_id: str) -> bool: ...


class UserActions:
    state: StandinState
    listener_probe: ListenerProbe | None
    listener_wait: float

    async def user_message(
        self,
        channel_id: ChannelRef,
        author: UserRef | None,
        content: str,
        *,
        reference: int | StoredMessage | None = None,
        attachments: Sequence[Attachment] = (),
        mentions: Sequence[UserRef] = (),
    ) -> StoredMessage:
        """Dispatch MESSAGE_CREATE for a message a test user posts in a channel or thread."""
        world = self.state.world
        channel, user = world.channel(channel_id), self._user(author)
        if not content and not attachments:
            raise StandinError("a Discord user cannot send an empty message")
        ref_id = reference.id if isinstance(reference, StoredMessage) else reference
        if ref_id is not None and self.state.store.find(ref_id) is None:
            raise StandinError(f"cannot reply to unknown message {ref_id}")
        message = StoredMessage(
            self.state.store.new_id(), channel.id, "user", user, content=content,
            reference_id=ref_id, type=REPLY if ref_id is not None else 0,
            extra_mention_ids=[world.user(m).id for m in mentions],
        )
        for item in attachments:
            content_type = item[2] if len(item) == 3 else None
            message.attachments.append(
                self.state.store.store_user_attachment(message, item[0], item[1], content_type)
            )
        self.state.recorder.record(
            UserMessage(
                message_id=message.id, channel_id=channel.id, author_id=user.id, content=content
            )
        )
        await self.state.publisher.created(message)
        return message

    async def user_dm(self, author: UserRef | None, content: str) -> StoredMessage:
        """Dispatch MESSAGE_CREATE for a direct message from a test user to the bot."""
        user = self._user(author)
        return await self.user_message(self.state.world.dm_channel(user), user, content)

    async def user_edit(self, message_id: int, content: str) -> None:
        message = self.state.store.get(message_id)
        if message.source != "user":
            raise StandinError("test users can only edit their own messages")
        message.content = content
        await self.state.publisher.edited(message, {"content": content}, "user")

    async def user_delete(self, message_id: int) -> None:
        await self.state.publisher.deleted(self.state.store.get(message_id), "user")

    async def slash_command(
        self,
        name: str,
        options: Mapping[str, OptionValue] | None = None,
        user: UserRef | None = None,
        channel_id: ChannelRef | None = None,
        *,
        subcommand: str | None = None,
        group: str | None = None,
    ) -> StoredInteraction:
        """Dispatch INTERACTION_CREATE type 2 for a registered (synced) chat-input command."""
        state = self.state
        command = state.commands.find(name)
        if command is None:
            raise StandinError(f"/{name} is not registered, so no user could run it")
        built, resolved = build_options(
            command, options or {}, state.world, subcommand=subcommand, group=group
        )
        data: JSON = {"id": str(command.id), "name": name, "type": 1, "options": built}
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        if resolved:
            data["resolved"] = resolved
        channel = self._channel(channel_id)
        interaction = state.interactions.new(APPLICATION_COMMAND, name, channel, self._user(user))
        await self._dispatch(interaction, data, None)
        return interaction

    async def click_button(
        self, message_id: int, custom_id: str, user: UserRef | None = None
    ) -> StoredInteraction:
        """Dispatch INTERACTION_CREATE type 3 for a click on a component of a message."""
        return await self._component(message_id, custom_id, user, None)

    async def select_menu(
        self, message_id: int, custom_id: str, values: Sequence[str], user: UserRef | None = None
    ) -> StoredInteraction:
        return await self._component(message_id, custom_id, user, list(values))

    async def submit_modal(
        self, answered: StoredInteraction, values: Mapping[str, str], user: UserRef | None = None
    ) -> StoredInteraction:
        """Submit the modal the bot answered `answered` with (response type 9)."""
        modal = answered.modal
        if modal is None:
            raise StandinError("that interaction was not answered with a modal")
        for custom_id in values:
            if find_component(modal.get("components") or [], custom_id) is None:
                raise StandinError(f"the modal has no input {custom_id!r}")
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": cid, "value": value}]}
            for cid, value in values.items()
        ]
        modal_id = str(modal["custom_id"])
        source = answered.source_message_id
        interaction = self.state.interactions.new(
            MODAL_SUBMIT, modal_id, self.state.world.channel(answered.channel_id),
            self._user(user if user is not None else answered.user), source,
        )
        probe = self.listener_probe
        if probe is not None:
            await self._wait_listening(lambda: probe.modal_ready(modal_id))
        message = None if source is None else self._message_payload(source)
        await self._dispatch(interaction, {"custom_id": modal_id, "components": rows}, message)
        return interaction

    async def _component(
        self, message_id: int, custom_id: str, user: UserRef | None, values: list[str] | None
    ) -> StoredInteraction:
        state = self.state
        message = state.store.find(message_id)
        if message is None:
            raise StandinError(f"no message {message_id} to click on")
        component = find_component(message.components, custom_id)
        if component is None:
            raise StandinError(f"message {message_id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise StandinError(f"component {custom_id!r} is disabled")
        clicker = self._user(user)
        if message.ephemeral_for is not None and message.ephemeral_for != clicker.id:
            raise StandinError("only the user who received an ephemeral message can click it")
        component_type = int(component["type"])
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        probe = self.listener_probe
        if probe is not None:
            await self._wait_listening(
                lambda: probe.component_ready(message.id, component_type, custom_id)
            )
        channel = state.world.channel(message.channel_id)
        interaction = state.interactions.new(
            MESSAGE_COMPONENT, custom_id, channel, clicker, message.id
        )
        await self._dispatch(interaction, data, self._message_payload(message.id))
        return interaction

    async def _wait_listening(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.listener_wait
        delay = 0.002
        while not ready() and time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _message_payload(self, message_id: int) -> JSON:
        return self.state.publisher.payload(self.state.store.get(message_id))

    async def _dispatch(
        self, interaction: StoredInteraction, data: JSON, message: JSON | None
    ) -> None:
        interaction.created_at = time.monotonic()
        self.state.recorder.record(
            InteractionCreated(
                interaction_id=interaction.id, type=interaction.type, name=interaction.name,
                user_id=interaction.user.id, channel_id=interaction.channel_id,
            )
        )
        payload = interaction_payload(interaction, data, self.state.world, message=message)
        await self.state.gateway.dispatch("INTERACTION_CREATE", payload)

    def _user(self, ref: UserRef | None) -> StandinUser:
        world = self.state.world
        return world.default_user() if ref is None else world.user(ref)

    def _channel(self, ref: ChannelRef | None) -> StandinChannel:
        world = self.state.world
        return next(world.text_channels()) if ref is None else world.channel(ref)
