"""Where discord.py connects: Discord itself, or an override from the config (a proxy, or the
local stand-in in tests). discord.py reads these from class attributes, so the override is
applied for the life of the ``with`` block and restored after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import discord.gateway
import discord.http
import yarl

__all__ = ["DISCORD_API", "discord_endpoints"]

DISCORD_API = "https://discord.com/api/v10"


@contextmanager
def discord_endpoints(api_base: str | None, gateway_url: str | None) -> Iterator[None]:
    route = discord.http.Route
    socket = discord.gateway.DiscordWebSocket
    saved = (route.BASE, socket.DEFAULT_GATEWAY)
    if api_base:
        route.BASE = api_base.rstrip("/")
    if gateway_url:
        socket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        route.BASE, socket.DEFAULT_GATEWAY = saved
