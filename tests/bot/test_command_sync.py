"""A refused slash-command sync: the bot still answers, says why, and tries again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import FollowUp

pytestmark = pytest.mark.timeout(90)

SYNC = "PUT /applications/*/guilds/*/commands"


def _no_ids(world: BotWorld) -> list[dict[str, Any]]:
    app = str(world.discord.application_id)
    return [{"name": "status", "type": 1, "description": "x", "application_id": app}]


async def _refuse_sync(world: BotWorld, how: str) -> str:
    """Make Discord refuse the sync the way ``how`` says; returns what the warning quotes."""
    discord = world.discord
    if how == "400":
        discord.fail_rest(SYNC, status=400, code=50035, message="Invalid Form Body")
        return "Discord answered 400, code 50035: Invalid Form Body"
    if how == "503":
        discord.fail_rest(SYNC, status=503, code=0, message="upstream connect error")
        return "Discord answered 503"
    if how == "429":
        discord.rate_limit_next(SYNC, retry_after=0.01, count=1000)
        return "Discord answered 429"
    discord.fail_rest(SYNC, status=200, body=_no_ids(world))
    return "Discord's answer could not be read (KeyError: 'id')"


@pytest.mark.parametrize("how", ["400", "503", "429", "200-without-ids"])
async def test_a_refused_sync_leaves_the_bot_answering(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.command_sync")
    async with homecrew_world(tmp_path, start=False) as world:
        quoted = await _refuse_sync(world, how)
        await world.start()
        replies = await world.converse("skip", "are you up?")
        assert [m.author_name for m in replies] == ["Skip"]
        assert replies[0].content == "Skip here: all good."
        await world.discord.wait_until(lambda: world.bot.command_sync.problem is not None)
        assert not world.bot.command_sync.synced
        assert quoted in world.bot.discord_status()[0]
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "bot.command_sync" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert quoted in warnings[0]


async def test_a_500_being_retried_does_not_hold_up_start_up(tmp_path: Path) -> None:
    """discord.py retries a 500 itself for ~25 s; the bot answers meanwhile."""
    async with homecrew_world(tmp_path, start=False) as world:
        world.discord.fail_rest(SYNC, status=500, message="Internal Server Error")
        await world.start()
        replies = await world.converse("skip", "are you up?")
        assert replies[0].content == "Skip here: all good."
        assert not world.bot.command_sync.synced


async def test_the_sync_is_retried_until_it_goes_through(tmp_path: Path) -> None:
    options = WorldOptions(discord={"command_sync_retry_initial": 0.1,
                                    "command_sync_retry_max": 0.2})
    async with homecrew_world(tmp_path, options, start=False) as world:
        discord = world.discord
        discord.fail_rest(SYNC, status=400, code=50035, message="Invalid Form Body", count=3)
        await world.start()
        await discord.wait_until(lambda: world.bot.command_sync.synced, timeout=10)
        assert world.bot.command_sync.attempts == 4
        assert len(discord.command_syncs("guild")) == 1
        status = await discord.slash_command("status", user="alice", channel_id="skip")
        follow = await discord.wait_for_event(
            FollowUp, lambda f: f.interaction_id == status.id, timeout=10)
        fields = {f["name"]: f["value"] for f in follow.embeds[0]["fields"]}
        assert fields["Discord"].startswith("slash commands synced")

