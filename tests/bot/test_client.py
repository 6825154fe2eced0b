"""The client's own failure paths: a slash command whose error reply fails too."""

from __future__ import annotations

import gc
import logging

import pytest

from tests.support.bot_harness import BotWorld

pytestmark = pytest.mark.timeout(60)


async def test_a_command_error_that_cannot_be_reported_is_logged_not_leaked(
    bot_world: BotWorld, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    discord = bot_world.discord
    discord.fail_rest("POST /interactions/*", reset=True)  # no answer reaches the user
    await discord.slash_command("status", user="alice", channel_id="skip")

    def told() -> bool:
        return any("could not tell the user /status failed" in r.getMessage()
                   for r in caplog.records)

    await discord.wait_until(told, timeout=15)
    discord.clear_faults()
    replies = await bot_world.converse("skip", "still fine?")
    assert [m.content for m in replies] == ["Skip here: all good."]
    gc.collect()
    assert "Task exception was never retrieved" not in caplog.text
