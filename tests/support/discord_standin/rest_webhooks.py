"""Channel webhooks: create, list, fetch, execute, edit messages; also routes interaction tokens."""

from __future__ import annotations

from aiohttp import web

from .bodies import parse_body
from .errors import ApiError
from .events import WebhookCreated, WebhookExecution
from .messages import StoredMessage
from .payloads import JSON
from .rest_helpers import (
    API,
    channel_param,
    check_guild,
    json_ok,
    no_content,
    require_permission,
    require_send,
    snowflake,
    truthy,
)
from .rest_interactions import InteractionRoutes
from .state import StandinState, StoredWebhook
from .validation import check_message, check_payload
from .world import MANAGE_WEBHOOKS, StandinChannel

__all__ = ["WebhookRoutes"]

_FORBIDDEN_NAMES = ("discord", "clyde")


def _check_name(field: str, name: object) -> str:
    text = str(name or "")
    if not 1 <= len(text) <= 80:
        raise ApiError.invalid_form(field, "Must be between 1 and 80 in length.")
    if any(bad in text.lower() for bad in _FORBIDDEN_NAMES):
        raise ApiError.invalid_form(field, f'Username cannot contain "{text}"', "USERNAME_INVALID")
    return text


class WebhookRoutes:
    def __init__(self, state: StandinState, interactions: InteractionRoutes) -> None:
        self._state = state
        self._interactions = interactions

    def routes(self) -> list[web.RouteDef]:
        hook = f"{API}/webhooks/{{webhook_id}}"
        return [
            web.post(f"{API}/channels/{{channel_id}}/webhooks", self.create),
            web.get(f"{API}/channels/{{channel_id}}/webhooks", self.list_channel),
            web.get(f"{API}/guilds/{{guild_id}}/webhooks", self.list_guild),
            web.get(hook, self.fetch),
            web.patch(hook, self.edit),
            web.delete(hook, self.delete),
            web.get(f"{hook}/{{token}}", self.fetch_with_token),
            web.delete(f"{hook}/{{token}}", self.delete_with_token),
            web.post(f"{hook}/{{token}}", self.execute),
            web.get(f"{hook}/{{token}}/messages/{{message_id}}", self.message_op),
            web.patch(f"{hook}/{{token}}/messages/{{message_id}}", self.message_op),
            web.delete(f"{hook}/{{token}}/messages/{{message_id}}", self.message_op),
        ]

    # -- management (bot token) -----------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        state = self._state
        channel = channel_param(state, request)
        require_permission(state, MANAGE_WEBHOOKS)
        if channel.is_thread or channel.is_dm:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if len(state.live_webhooks(channel.id)) >= state.config.max_webhooks_per_channel:
            raise ApiError(400, 30007, "Maximum number of webhooks reached (15)")
        payload = (await parse_body(request)).payload
        name = _check_name("name", payload.get("name"))
        avatar = "standin-avatar" if payload.get("avatar") else None
        webhook = state.new_webhook(channel.id, name, avatar)
        state.recorder.record(
            WebhookCreated(webhook_id=webhook.id, channel_id=channel.id, name=name)
        )
        return json_ok(state.webhook_payload(webhook))

    async def list_channel(self, request: web.Request) -> web.Response:
        state = self._state
        channel = channel_param(state, request)
        require_permission(state, MANAGE_WEBHOOKS)
        return json_ok([state.webhook_payload(w) for w in state.live_webhooks(channel.id)])

    async def list_guild(self, request: web.Request) -> web.Response:
        state = self._state
        check_guild(state, request)
        require_permission(state, MANAGE_WEBHOOKS)
        return json_ok([state.webhook_payload(w) for w in state.live_webhooks()])

    def _webhook(self, request: web.Request, *, with_token: bool) -> StoredWebhook:
        webhook = self._state.webhooks.get(snowflake(request, "webhook_id"))
        if webhook is None or webhook.deleted:
            raise ApiError.unknown("Webhook", 10015)
        if with_token and request.match_info["token"] != webhook.token:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return webhook

    async def fetch(self, request: web.Request) -> web.Response:
        return json_ok(self._state.webhook_payload(self._webhook(request, with_token=False)))

    async def fetch_with_token(self, request: web.Request) -> web.Response:
        return json_ok(self._state.webhook_payload(self._webhook(request, with_token=True)))

    async def edit(self, request: web.Request) -> web.Response:
        webhook = self._webhook(request, with_token=False)
        payload = (await parse_body(request)).payload
        if "name" in payload:
            webhook.name = _check_name("name", payload["name"])
        if "channel_id" in payload:
            webhook.channel_id = self._state.world.channel(int(payload["channel_id"])).id
        return json_ok(self._state.webhook_payload(webhook))

    async def delete(self, request: web.Request) -> web.Response:
        self._webhook(request, with_token=False).deleted = True
        return no_content()

    async def delete_with_token(self, request: web.Request) -> web.Response:
        self._webhook(request, with_token=True).deleted = True
        return no_content()

    # -- execution (webhook or interaction token) ----------------------------------------------

    async def execute(self, request: web.Request) -> web.Response:
        interaction = self._state.interactions.by_token(request.match_info["token"])
        if interaction is not None:
            if snowflake(request, "webhook_id") != self._state.world.application_id:
                raise ApiError.unknown("Webhook", 10015)
            return await self._interactions.follow_up(interaction, request)
        state = self._state
        webhook = self._webhook(request, with_token=True)
        target = self._target_channel(webhook, request.query.get("thread_id"))
        require_send(state, target)
        body = await parse_body(request)
        payload: JSON = body.payload
        check_payload(payload)
        username = payload.get("username")
        if username is not None:
            _check_name("username", username)
        message = StoredMessage(
            state.store.new_id(), target.id, "webhook", None, webhook_id=webhook.id,
            username=str(username or webhook.name), avatar_url=payload.get("avatar_url"),
        )
        state.store.apply(message, body, editing=False)
        check_message(message)
        wait = truthy(request.query.get("wait"))
        created = await state.publisher.created(message)
        state.recorder.record(
            WebhookExecution(
                webhook_id=webhook.id, channel_id=webhook.channel_id,
                thread_id=target.id if target.is_thread else None, message_id=message.id,
                content=message.content, username=username, avatar_url=message.avatar_url,
                wait=wait, files=message.sent_files,
            )
        )
        return json_ok(created) if wait else no_content()

    def _target_channel(self, webhook: StoredWebhook, thread_id: str | None) -> StandinChannel:
        world = self._state.world
        if thread_id is None:
            return world.channel(webhook.channel_id)
        thread = world.find_channel(int(thread_id)) if thread_id.isdigit() else None
        if thread is None or not thread.is_thread or thread.parent_id != webhook.channel_id:
            raise ApiError.unknown("Channel", 10003)
        return thread

    async def message_op(self, request: web.Request) -> web.Response:
        message_ref = request.match_info["message_id"]
        interaction = self._state.interactions.by_token(request.match_info["token"])
        if interaction is not None:
            return await self._interactions.message_op(interaction, message_ref, request)
        state = self._state
        webhook = self._webhook(request, with_token=True)
        message = state.store.find(int(message_ref)) if message_ref.isdigit() else None
        if message is None or message.webhook_id != webhook.id:
            raise ApiError.unknown("Message", 10008)
        if request.method == "GET":
            return json_ok(state.publisher.payload(message))
        if request.method == "DELETE":
            await state.publisher.deleted(message, "webhook")
            return no_content()
        body = await parse_body(request)
        check_payload(body.payload)
        changed = state.store.apply(message, body, editing=True)
        check_message(message)
        return json_ok(await state.publisher.edited(message, changed, "webhook"))
