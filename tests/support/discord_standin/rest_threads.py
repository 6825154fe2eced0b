"""Thread creation (from a message or standalone) and thread edits; dispatches THREAD_*."""

from __future__ import annotations

from aiohttp import web

from .bodies import parse_body
from .errors import ApiError
from .events import ThreadCreated
from .payloads import JSON, channel_payload
from .rest_helpers import API, channel_param, json_ok, require_permission, snowflake
from .snowflake import iso_now
from .state import StandinState
from .world import CREATE_PRIVATE_THREADS, CREATE_PUBLIC_THREADS, StandinChannel

__all__ = ["ThreadRoutes"]

PRIVATE_THREAD = 12


class ThreadRoutes:
    def __init__(self, state: StandinState) -> None:
        self._state = state

    def routes(self) -> list[web.RouteDef]:
        base = f"{API}/channels/{{channel_id}}"
        return [
            web.post(f"{base}/threads", self.create),
            web.post(f"{base}/messages/{{message_id}}/threads", self.create_from_message),
            web.patch(base, self.edit),
        ]

    @staticmethod
    def _name(payload: JSON) -> str:
        name = str(payload.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise ApiError.invalid_form("name", "Must be between 1 and 100 in length.")
        return name

    async def create(self, request: web.Request) -> web.Response:
        state = self._state
        parent = channel_param(state, request)
        if parent.is_thread or parent.is_dm:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        payload = (await parse_body(request)).payload
        private = int(payload.get("type", PRIVATE_THREAD)) == PRIVATE_THREAD
        require_permission(state, CREATE_PRIVATE_THREADS if private else CREATE_PUBLIC_THREADS)
        thread = state.world.add_thread(
            parent, self._name(payload), state.world.bot_user, private=private
        )
        return json_ok(await self._announce(thread, None), status=201)

    async def create_from_message(self, request: web.Request) -> web.Response:
        state = self._state
        parent = channel_param(state, request)
        if parent.is_thread or parent.is_dm:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        message = state.store.get(snowflake(request, "message_id"), parent.id)
        if message.thread_id is not None:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        require_permission(state, CREATE_PUBLIC_THREADS)
        payload = (await parse_body(request)).payload
        thread = state.world.add_thread(
            parent, self._name(payload), state.world.bot_user, thread_id=message.id
        )
        message.thread_id = thread.id
        return json_ok(await self._announce(thread, message.id), status=201)

    async def _announce(self, thread: StandinChannel, message_id: int | None) -> JSON:
        state = self._state
        body = channel_payload(thread, state.world.guild_id)
        event = dict(body)
        event["newly_created"] = True
        event["member"] = {
            "id": str(thread.id),
            "user_id": str(state.world.bot_user.id),
            "join_timestamp": iso_now(),
            "flags": 0,
        }
        await state.gateway.dispatch("THREAD_CREATE", event)
        assert thread.parent_id is not None
        state.recorder.record(
            ThreadCreated(
                thread_id=thread.id, parent_id=thread.parent_id, name=thread.name,
                message_id=message_id, private=thread.type == PRIVATE_THREAD,
            )
        )
        return body

    async def edit(self, request: web.Request) -> web.Response:
        state = self._state
        channel = channel_param(state, request)
        payload = (await parse_body(request)).payload
        if "name" in payload:
            channel.name = self._name(payload)
        if channel.is_thread and "archived" in payload:
            channel.archived = bool(payload["archived"])
        if "topic" in payload and not channel.is_thread:
            channel.topic = payload["topic"]
        body = channel_payload(channel, state.world.guild_id)
        event = "THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE"
        await state.gateway.dispatch(event, body)
        return json_ok(body)
