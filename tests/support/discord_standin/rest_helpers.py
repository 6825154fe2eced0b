"""Small helpers shared by the REST handlers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import ApiError, json_response
from .state import StandinState
from .world import SEND_MESSAGES, SEND_MESSAGES_IN_THREADS, StandinChannel

__all__ = [
    "API",
    "channel_param",
    "check_guild",
    "json_ok",
    "no_content",
    "require_permission",
    "require_send",
    "snowflake",
    "truthy",
]

API = "/api/v10"


def snowflake(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit():
        raise ApiError.invalid_form(name, f'Value "{raw}" is not snowflake.', "NUMBER_TYPE_COERCE")
    return int(raw)


def channel_param(state: StandinState, request: web.Request) -> StandinChannel:
    channel = state.world.find_channel(snowflake(request, "channel_id"))
    if channel is None:
        raise ApiError.unknown("Channel", 10003)
    return channel


def check_guild(state: StandinState, request: web.Request) -> None:
    if snowflake(request, "guild_id") != state.world.guild_id:
        raise ApiError.unknown("Guild", 10004)


def require_permission(state: StandinState, permission: int) -> None:
    if not state.world.permissions_of(state.world.bot_user) & permission:
        raise ApiError(403, 50013, "Missing Permissions")


def require_send(state: StandinState, channel: StandinChannel) -> None:
    require_permission(state, SEND_MESSAGES_IN_THREADS if channel.is_thread else SEND_MESSAGES)
    if channel.archived:
        raise ApiError(400, 50083, "Thread is archived")


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in {"1", "true", "yes"}


def json_ok(body: Any, status: int = 200) -> web.Response:
    return json_response(body, status=status)


def no_content() -> web.Response:
    return web.Response(status=204)
