"""Read-only endpoints: gateway discovery, users, application, guild, channels, attachments."""

from __future__ import annotations

from aiohttp import web

from .bodies import parse_body
from .errors import ApiError
from .payloads import (
    channel_payload,
    dm_channel_payload,
    guild_rest_payload,
    member_payload,
    role_payload,
    user_payload,
)
from .rest_helpers import API, channel_param, check_guild, json_ok, snowflake, truthy
from .state import StandinState

__all__ = ["BasicRoutes"]


class BasicRoutes:
    def __init__(self, state: StandinState) -> None:
        self._state = state
        self._world = state.world

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/gateway", self.gateway),
            web.get(f"{API}/gateway/bot", self.gateway_bot),
            web.get(f"{API}/users/@me", self.me),
            web.get(f"{API}/users/{{user_id}}", self.user),
            web.post(f"{API}/users/@me/channels", self.open_dm),
            web.get(f"{API}/oauth2/applications/@me", self.application),
            web.get(f"{API}/applications/@me", self.application),
            web.get(f"{API}/guilds/{{guild_id}}", self.guild),
            web.get(f"{API}/guilds/{{guild_id}}/channels", self.guild_channels),
            web.get(f"{API}/guilds/{{guild_id}}/roles", self.roles),
            web.get(f"{API}/guilds/{{guild_id}}/members", self.members),
            web.get(f"{API}/guilds/{{guild_id}}/members/{{user_id}}", self.member),
            web.get(f"{API}/guilds/{{guild_id}}/threads/active", self.active_threads),
            web.get(f"{API}/channels/{{channel_id}}", self.channel),
            web.get("/attachments/{channel_id}/{attachment_id}/{filename}", self.attachment),
        ]

    async def gateway(self, request: web.Request) -> web.Response:
        return json_ok({"url": self._state.gateway.url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return json_ok({"url": self._state.gateway.url, "shards": 1, "session_start_limit": limit})

    async def me(self, request: web.Request) -> web.Response:
        body = user_payload(self._world.bot_user)
        body.update({"verified": True, "mfa_enabled": False, "flags": 0, "email": None})
        return json_ok(body)

    async def user(self, request: web.Request) -> web.Response:
        user = self._world.users.get(snowflake(request, "user_id"))
        if user is None:
            raise ApiError.unknown("User", 10013)
        return json_ok(user_payload(user))

    async def open_dm(self, request: web.Request) -> web.Response:
        payload = (await parse_body(request)).payload
        user = self._world.users.get(int(payload.get("recipient_id", 0)))
        if user is None or user.bot:
            raise ApiError.unknown("User", 10013)
        return json_ok(dm_channel_payload(self._world.dm_channel(user), user))

    async def application(self, request: web.Request) -> web.Response:
        world = self._world
        return json_ok(
            {
                "id": str(world.application_id),
                "name": world.bot_user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "rpc_origins": [],
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": user_payload(world.default_user()),
                "team": None,
                "flags": world.config.application_flags,
                "bot": user_payload(world.bot_user),
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "approximate_guild_count": 1,
                "tags": [],
            }
        )

    async def guild(self, request: web.Request) -> web.Response:
        check_guild(self._state, request)
        counts = truthy(request.query.get("with_counts"))
        return json_ok(guild_rest_payload(self._world, with_counts=counts))

    async def guild_channels(self, request: web.Request) -> web.Response:
        check_guild(self._state, request)
        gid = self._world.guild_id
        return json_ok([channel_payload(c, gid) for c in self._world.text_channels()])

    async def roles(self, request: web.Request) -> web.Response:
        check_guild(self._state, request)
        return json_ok([role_payload(r) for r in self._world.roles.values()])

    async def members(self, request: web.Request) -> web.Response:
        check_guild(self._state, request)
        after = int(request.query.get("after", "0"))
        limit = int(request.query.get("limit", "1"))
        users = sorted((u for u in self._world.users.values() if u.id > after), key=lambda u: u.id)
        return json_ok([member_payload(u) for u in users[:limit]])

    async def member(self, request: web.Request) -> web.Response:
        check_guild(self._state, request)
        user = self._world.users.get(snowflake(request, "user_id"))
        if user is None:
            raise ApiError.unknown("Member", 10007)
        return json_ok(member_payload(user))

    async def active_threads(self, request: web.Request) -> web.Response:
        check_guild(self._state, request)
        gid = self._world.guild_id
        return json_ok(
            {"threads": [channel_payload(t, gid) for t in self._world.threads()], "members": []}
        )

    async def channel(self, request: web.Request) -> web.Response:
        channel = channel_param(self._state, request)
        if channel.is_dm and channel.recipient_id is not None:
            recipient = self._world.user(channel.recipient_id)
            return json_ok(dm_channel_payload(channel, recipient))
        count = len(self._state.store.in_channel(channel.id))
        return json_ok(channel_payload(channel, self._world.guild_id, message_count=count))

    async def attachment(self, request: web.Request) -> web.Response:
        found = self._state.store.attachment(snowflake(request, "attachment_id"))
        if found is None:
            raise web.HTTPNotFound()
        content_type = found.content_type or "application/octet-stream"
        return web.Response(body=found.data, content_type=content_type)
