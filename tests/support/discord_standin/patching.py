"""Point discord.py (in this process only) at a stand-in, and put it back afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import discord.asset
import discord.gateway
import discord.http
import yarl

__all__ = ["discord_pointed_at"]


@contextmanager
def discord_pointed_at(api_base: str, gateway_url: str, cdn_base: str) -> Iterator[None]:
    """Set `Route.BASE`, `DiscordWebSocket.DEFAULT_GATEWAY` and `Asset.BASE`; restore on exit."""
    route = discord.http.Route
    socket = discord.gateway.DiscordWebSocket
    asset = discord.asset.Asset
    saved = (route.BASE, socket.DEFAULT_GATEWAY, asset.BASE)
    route.BASE = api_base
    socket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    asset.BASE = cdn_base
    try:
        yield
    finally:
        route.BASE, socket.DEFAULT_GATEWAY, asset.BASE = saved
