"""The gateway, supervised: a payload discord.py cannot parse, repeated outages, and a
crash loop (the only thing that ends ``homecrew bot``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.backoff import Backoff
from bot.gateway import CrashCounter
from homecrew.compose import serve
from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import GatewayIdentified, GatewayResumed
from tests.support.discord_standin.faults import message_with_role_objects

pytestmark = pytest.mark.timeout(90)

SECRET = "the launch code is tangerine-42"


async def _malformed(world: BotWorld) -> None:
    payload = message_with_role_objects(world.discord.state, "skip", "alice", SECRET)
    await world.discord.send_raw_dispatch("MESSAGE_CREATE", payload)


async def test_a_payload_discord_py_cannot_parse_is_survived(
    bot_world: BotWorld, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    discord = bot_world.discord
    mark = discord.mark()
    await _malformed(bot_world)
    await discord.wait_resumed(since=mark)
    replies = await bot_world.converse("skip", "are you still there?")
    assert [m.content for m in replies] == ["Skip here: all good."]
    errors = [r.getMessage() for r in caplog.records if r.name == "bot.gateway"]
    assert any("gateway event MESSAGE_CREATE: TypeError" in e for e in errors)
    assert SECRET not in caplog.text
    status = bot_world.bot.discord_status()
    assert "gateway: 1 unexpected error(s) since start, last gateway event MESSAGE_CREATE" \
        in status[1]
    assert SECRET not in status[1]


async def test_repeated_outages_never_lengthen_the_reconnect_delay(tmp_path: Path) -> None:
    options = WorldOptions(discord={"reconnect_initial_delay": 0.05,
                                    "reconnect_max_delay": 0.2})
    async with homecrew_world(tmp_path, options) as world:
        discord, gateway = world.discord, world.bot.gateway
        for _outage in range(3):
            mark = discord.mark()
            seen = len(gateway.recent_delays)
            discord.fail_rest("GET /ws*", status=503, count=5)  # five refused handshakes
            await discord.drop_gateway(abrupt=True)
            await discord.wait_for_event(GatewayResumed, since=mark, timeout=30)
            assert list(gateway.recent_delays)[seen:] == [0.05, 0.1, 0.2, 0.2, 0.2]
        replies = await world.converse("skip", "back?")
        assert [m.content for m in replies] == ["Skip here: all good."]


def test_the_reconnect_delay_doubles_to_its_cap_and_starts_over() -> None:
    backoff = Backoff(1.0, 10.0)
    assert [backoff.delay() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.delay() == 1.0


async def test_only_a_crash_loop_ends_the_bot_and_it_exits_non_zero(tmp_path: Path) -> None:
    options = WorldOptions(discord={"max_gateway_crashes": 2})
    async with homecrew_world(tmp_path, options, start=False) as world:
        discord = world.discord
        bot = asyncio.create_task(serve(world.settings, {}), name="homecrew-bot")
        await discord.wait_for_event(GatewayIdentified, timeout=20)
        mark = discord.mark()
        await _malformed(world)
        await discord.wait_for_event(GatewayResumed, since=mark, timeout=20)
        assert not bot.done()
        await _malformed(world)
        async with asyncio.timeout(20):
            assert await bot == 1


def test_crashes_are_counted_within_the_window_only() -> None:
    now = [0.0]
    crashes = CrashCounter(limit=3, window=60.0, clock=lambda: now[0])
    assert crashes.record() == 1
    now[0] = 30.0
    assert crashes.record() == 2
    now[0] = 95.0  # the first two are older than the window
    assert crashes.record() == 1


async def test_discord_unreachable_at_start_up_exits_1_with_a_plain_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    async with homecrew_world(tmp_path, start=False) as world:
        world.discord.fail_rest("*", reset=True)
        async with asyncio.timeout(30):
            assert await serve(world.settings, {}) == 1
    assert "cannot reach Discord to log in (ServerDisconnectedError)" in caplog.text
    assert "Traceback" not in caplog.text
