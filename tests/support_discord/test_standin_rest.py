"""The stand-in's REST surface seen from a plain HTTP client (auth, shapes, errors)."""

from __future__ import annotations

import aiohttp
import discord.gateway
import discord.http
import pytest

from tests.support.discord_standin import RequestRejected, StandinDiscord

pytestmark = pytest.mark.timeout(30)


async def test_auth_and_discovery_endpoints(discord_standin: StandinDiscord) -> None:
    auth = {"Authorization": f"Bot {discord_standin.token}"}
    api = discord_standin.api_base
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api}/users/@me") as unauthenticated:
            assert unauthenticated.status == 401
            assert (await unauthenticated.json())["code"] == 0
        async with http.get(f"{api}/gateway/bot", headers=auth) as gateway:
            body = await gateway.json()
            assert gateway.headers["Content-Type"] == "application/json"
            assert body["url"] == discord_standin.gateway_url
            assert body["shards"] == 1
        async with http.get(f"{api}/applications/@me", headers=auth) as app:
            assert (await app.json())["id"] == str(discord_standin.application_id)
        async with http.get(f"{api}/guilds/{discord_standin.guild_id}/channels", headers=auth) as r:
            names = [c["name"] for c in await r.json()]
            assert names == ["skip", "nellie", "chief", "gonzo", "cleo", "jax", "alerts"]


async def test_errors_are_discord_shaped_and_recorded(discord_standin: StandinDiscord) -> None:
    auth = {"Authorization": f"Bot {discord_standin.token}"}
    api = discord_standin.api_base
    skip = discord_standin.channel_id("skip")
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(f"{api}/channels/{skip}/messages", json={"content": ""}) as empty:
            assert empty.status == 400
            assert (await empty.json())["code"] == 50006
        async with http.get(f"{api}/channels/{skip}/messages/123456789") as missing:
            assert (missing.status, (await missing.json())["code"]) == (404, 10008)
        async with http.get(f"{api}/no/such/route") as unknown:
            assert unknown.status == 404
        for _ in range(15):
            async with http.post(f"{api}/channels/{skip}/webhooks", json={"name": "a"}) as made:
                assert made.status == 200
        async with http.post(f"{api}/channels/{skip}/webhooks", json={"name": "a"}) as full:
            assert (await full.json())["code"] == 30007
    codes = [e.code for e in discord_standin.events(RequestRejected)]
    assert codes == [50006, 10008, 0, 30007]


async def test_discord_py_is_pointed_at_the_stand_in_only_inside() -> None:
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    async with StandinDiscord() as standin:
        assert standin.api_base == discord.http.Route.BASE
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == standin.gateway_url
    after = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    assert after == before
