"""A reply while Discord fails: it is finished in full once Discord answers again, or it
ends with a visible marker — never left partial without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.delivery import INTERRUPTED
from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import GatewayIdentified, SentMessage
from tests.support.standins import Script

pytestmark = pytest.mark.timeout(90)

STORY = " ".join(f"Part {i} of the story goes on." for i in range(40))  # ~1,200 chars


def _slow_story(world: BotWorld, agent: str = "jax") -> None:
    world.node(agent).script = Script(reply=STORY, chunk_chars=20, chunk_delay=0.05)


async def _first_post(world: BotWorld, name: str = "Jax") -> None:
    await world.discord.wait_for_event(SentMessage, lambda m: m.username == name, timeout=10)


async def test_rest_failing_during_a_reply_delays_it_but_it_completes_in_full(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    _slow_story(bot_world)
    asked = await discord.user_message("jax", "alice", "tell me a story")
    await _first_post(bot_world)
    discord.fail_rest("/webhooks/*", reset=True, seconds=1.5)  # connection dropped
    discord.fail_rest("PATCH /webhooks/*", status=200, body={"unexpected": True}, count=2)
    await bot_world.settled(asked, timeout=40)
    replies = bot_world.answers("jax", after=asked.id)
    assert [m.author_name for m in replies] == ["Jax"]
    assert replies[0].content == STORY
    assert INTERRUPTED not in replies[0].content
    assert bot_world.ctx.tracker.failures == 0


async def test_a_reply_discord_will_not_take_ends_with_the_interrupted_marker(
    tmp_path: Path,
) -> None:
    options = WorldOptions(discord={"post_retry_window": 1.0})
    async with homecrew_world(tmp_path, options) as world:
        discord = world.discord
        _slow_story(world)
        asked = await discord.user_message("jax", "alice", "tell me a story")
        await _first_post(world)
        outage = discord.fail_rest("/webhooks/*", reset=True, seconds=6.0)
        await discord.wait_until(lambda: outage.hits > 0, timeout=10)
        await world.settled(asked, timeout=40)
        await world.idle()
        shown = world.text("jax", after=asked.id)
    assert shown.endswith(INTERRUPTED)
    assert STORY.startswith(shown.removesuffix(INTERRUPTED).strip())


async def test_a_reply_survives_discord_going_away_and_the_session_being_invalidated(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    _slow_story(bot_world)
    asked = await discord.user_message("jax", "alice", "tell me a story")
    await _first_post(bot_world)
    mark = discord.mark()
    discord.fail_rest("*", reset=True, seconds=2.0)  # REST and gateway both gone
    await discord.drop_gateway(abrupt=True)
    await discord.invalidate_session(resumable=False)  # the RESUME will be refused
    await discord.wait_for_event(GatewayIdentified, since=mark, timeout=30)
    await bot_world.settled(asked, timeout=40)
    assert bot_world.text("jax", after=asked.id) == STORY
    assert discord.identify_count == 2
    replies = await bot_world.converse("nellie", "still there?")
    assert [m.content for m in replies] == ["Nellie here: all good."]


async def test_a_refused_edit_still_leaves_the_interrupted_marker(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    _slow_story(bot_world)
    asked = await discord.user_message("jax", "alice", "tell me a story")
    await _first_post(bot_world)
    discord.fail_rest("PATCH /webhooks/*", status=403, code=50013,
                      message="Missing Permissions")
    await bot_world.settled(asked, timeout=40)
    await bot_world.idle()
    replies = bot_world.answers("jax", after=asked.id)
    assert [m.author_name for m in replies] == ["Jax", "Jax"]
    assert STORY.startswith(replies[0].content)
    assert replies[1].content == INTERRUPTED
