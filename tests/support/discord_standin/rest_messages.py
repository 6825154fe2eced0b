"""Channel messages: send, read, edit, delete, typing, reactions."""

from __future__ import annotations

from aiohttp import web

from .bodies import parse_body
from .errors import ApiError
from .events import ReactionAdded, TypingStarted
from .messages import StoredMessage
from .payloads import JSON
from .rest_helpers import (
    API,
    channel_param,
    json_ok,
    no_content,
    require_send,
    snowflake,
)
from .state import StandinState
from .validation import check_message, check_payload
from .world import MANAGE_MESSAGES, StandinChannel

__all__ = ["MessageRoutes"]

REPLY = 19


class MessageRoutes:
    def __init__(self, state: StandinState) -> None:
        self._state = state

    def routes(self) -> list[web.RouteDef]:
        base = f"{API}/channels/{{channel_id}}"
        msg = f"{base}/messages/{{message_id}}"
        return [
            web.post(f"{base}/messages", self.create),
            web.get(f"{base}/messages", self.history),
            web.get(msg, self.fetch),
            web.patch(msg, self.edit),
            web.delete(msg, self.delete),
            web.post(f"{base}/typing", self.typing),
            web.put(f"{msg}/reactions/{{emoji}}/@me", self.react),
            web.delete(f"{msg}/reactions/{{emoji}}/@me", self.unreact),
        ]

    async def create(self, request: web.Request) -> web.Response:
        state = self._state
        channel = channel_param(state, request)
        require_send(state, channel)
        body = await parse_body(request)
        check_payload(body.payload)
        message = StoredMessage(
            state.store.new_id(), channel.id, "rest", state.world.bot_user
        )
        state.store.apply(message, body, editing=False)
        self._set_reference(message, channel, body.payload.get("message_reference"))
        check_message(message)
        return json_ok(await state.publisher.created(message))

    def _set_reference(
        self, message: StoredMessage, channel: StandinChannel, reference: JSON | None
    ) -> None:
        if not reference or reference.get("type", 0) != 0:
            return
        target_id = int(reference.get("message_id", 0))
        target = self._state.store.find(target_id)
        if target is None or target.channel_id != int(reference.get("channel_id", channel.id)):
            if reference.get("fail_if_not_exists", True):
                raise ApiError.invalid_form(
                    "message_reference", "Unknown message", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"
                )
            return
        message.reference_id = target.id
        message.type = REPLY

    async def history(self, request: web.Request) -> web.Response:
        channel = channel_param(self._state, request)
        query = request.query
        limit = max(1, min(100, int(query.get("limit", "50"))))
        visible = sorted((m for m in self._state.store.in_channel(channel.id) if not m.ephemeral),
                         key=lambda m: m.id)  # by id (time), as Discord pages them
        if "before" in query:
            visible = [m for m in visible if m.id < int(query["before"])]
        if "after" in query:
            visible = [m for m in visible if m.id > int(query["after"])]
            chosen = visible[:limit]
        else:
            chosen = visible[-limit:]
        publisher = self._state.publisher
        return json_ok([publisher.payload(m) for m in reversed(chosen)])

    def _message(self, request: web.Request) -> StoredMessage:
        channel = channel_param(self._state, request)
        message = self._state.store.get(snowflake(request, "message_id"), channel.id)
        if message.ephemeral:
            raise ApiError.unknown("Message", 10008)
        return message

    async def fetch(self, request: web.Request) -> web.Response:
        return json_ok(self._state.publisher.payload(self._message(request)))

    async def edit(self, request: web.Request) -> web.Response:
        message = self._message(request)
        if message.author is not self._state.world.bot_user:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = await parse_body(request)
        check_payload(body.payload)
        changed = self._state.store.apply(message, body, editing=True)
        check_message(message)
        return json_ok(await self._state.publisher.edited(message, changed, "rest"))

    async def delete(self, request: web.Request) -> web.Response:
        message = self._message(request)
        world = self._state.world
        own = message.author is world.bot_user and message.webhook_id is None
        if not own and not world.permissions_of(world.bot_user) & MANAGE_MESSAGES:
            raise ApiError(403, 50013, "Missing Permissions")
        await self._state.publisher.deleted(message, "rest")
        return no_content()

    async def typing(self, request: web.Request) -> web.Response:
        channel = channel_param(self._state, request)
        require_send(self._state, channel)
        self._state.recorder.record(TypingStarted(channel_id=channel.id))
        return no_content()

    async def react(self, request: web.Request) -> web.Response:
        message = self._message(request)
        emoji = request.match_info["emoji"]
        self._state.recorder.record(
            ReactionAdded(channel_id=message.channel_id, message_id=message.id, emoji=emoji)
        )
        return no_content()

    async def unreact(self, request: web.Request) -> web.Response:
        self._message(request)
        return no_content()
