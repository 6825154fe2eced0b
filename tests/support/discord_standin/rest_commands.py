"""Application commands: bulk overwrite and listing, guild and global (each overwrite recorded)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import ApiError
from .events import CommandsSynced
from .rest_helpers import API, check_guild, json_ok, snowflake
from .state import StandinState

__all__ = ["CommandRoutes"]


class CommandRoutes:
    def __init__(self, state: StandinState) -> None:
        self._state = state

    def routes(self) -> list[web.RouteDef]:
        app = f"{API}/applications/{{application_id}}"
        guild = f"{app}/guilds/{{guild_id}}/commands"
        return [
            web.put(f"{app}/commands", self.overwrite_global),
            web.get(f"{app}/commands", self.list_global),
            web.put(guild, self.overwrite_guild),
            web.get(guild, self.list_guild),
            web.get(f"{guild}/permissions", self.permissions),
        ]

    def _check_app(self, request: web.Request) -> None:
        if snowflake(request, "application_id") != self._state.world.application_id:
            raise ApiError.unknown("Application", 10002)

    @staticmethod
    async def _commands(request: web.Request) -> list[dict[str, Any]]:
        try:
            body = json.loads(await request.text() or "[]")
        except json.JSONDecodeError as exc:
            raise ApiError(400, 50109, "The request body contains invalid JSON.") from exc
        if not isinstance(body, list) or len(body) > 100:
            raise ApiError.invalid_form("_root", "Must be an array of 100 or fewer commands.")
        return body

    async def overwrite_global(self, request: web.Request) -> web.Response:
        self._check_app(request)
        commands = await self._commands(request)
        result = self._state.commands.overwrite(commands, None)
        self._state.recorder.record(
            CommandsSynced(scope="global", guild_id=None, commands=commands)
        )
        return json_ok(result)

    async def overwrite_guild(self, request: web.Request) -> web.Response:
        self._check_app(request)
        check_guild(self._state, request)
        commands = await self._commands(request)
        guild_id = self._state.world.guild_id
        result = self._state.commands.overwrite(commands, guild_id)
        self._state.recorder.record(
            CommandsSynced(scope="guild", guild_id=guild_id, commands=commands)
        )
        return json_ok(result)

    async def list_global(self, request: web.Request) -> web.Response:
        self._check_app(request)
        return json_ok(self._state.commands.listing(None))

    async def list_guild(self, request: web.Request) -> web.Response:
        self._check_app(request)
        check_guild(self._state, request)
        return json_ok(self._state.commands.listing(self._state.world.guild_id))

    async def permissions(self, request: web.Request) -> web.Response:
        self._check_app(request)
        check_guild(self._state, request)
        return json_ok([])
