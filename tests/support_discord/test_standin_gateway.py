"""Gateway control (abrupt drops, RECONNECT, INVALID_SESSION) and rate-limit variants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.support.discord_standin import (
    GatewayIdentified,
    MembersRequested,
    MessageEdit,
    RateLimitHit,
    SentMessage,
    StandinDiscord,
)
from tests.support_discord.tiny_bot import TinyBot

StartBot = Callable[[TinyBot], Awaitable[TinyBot]]
pytestmark = pytest.mark.timeout(30)


async def test_abrupt_connection_loss_is_resumed(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    mark = await discord_standin.drop_gateway(abrupt=True)
    sent = await discord_standin.user_message("skip", "alice", "after the cut")
    await discord_standin.wait_resumed(since=mark)
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished, since=mark)
    assert bot.echo.seen == [sent.id]
    assert discord_standin.identify_count == 1


async def test_reconnect_opcode_leads_to_resume(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    mark = discord_standin.mark()
    await discord_standin.send_reconnect()
    await discord_standin.wait_resumed(since=mark)
    assert discord_standin.identify_count == 1
    await discord_standin.user_message("skip", "alice", "still here")
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished, since=mark)


async def test_invalid_session_forces_a_fresh_identify(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    mark = discord_standin.mark()
    await discord_standin.invalidate_session(resumable=False)
    await discord_standin.wait_for_event(GatewayIdentified, since=mark, timeout=15)
    assert discord_standin.identify_count == 2
    await discord_standin.user_message("skip", "alice", "new session")
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished, since=mark, timeout=10)
    assert bot.echo.contents == ["new session"]


async def test_global_rate_limit_and_webhook_edit_limit_are_waited_out(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    discord_standin.rate_limit_next("PATCH /channels/*/messages/*", 0.2, global_=True)
    webhook_rule = discord_standin.rate_limit_next("PATCH /webhooks/*", 0.2, count=2)
    await discord_standin.user_message("skip", "alice", "global")
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished)
    await discord_standin.user_message("nellie", "alice", "stream")
    await discord_standin.wait_for_event(MessageEdit, lambda e: e.content == "final answer")
    hits = discord_standin.events(RateLimitHit)
    assert [h.is_global for h in hits] == [True, False, False]
    assert webhook_rule.hits == 2
    assert discord_standin.errors() == []


async def test_windowed_route_limit_spaces_out_edits(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    window = discord_standin.limit_route("PATCH /webhooks/*", limit=1, per=0.3)
    await discord_standin.user_message("nellie", "alice", "stream")
    final = await discord_standin.wait_for_event(
        MessageEdit, lambda e: e.content == "final answer"
    )
    first, second = discord_standin.edits(final.message_id)
    assert second.at - first.at >= 0.25
    assert window.hits >= 1
    assert discord_standin.errors() == []


async def test_direct_messages_arrive_without_a_guild(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    dm = await discord_standin.user_dm("alice", "psst")
    answer = await discord_standin.wait_for_event(
        SentMessage, lambda m: m.channel_id == dm.channel_id
    )
    assert answer.content == "dm echo: psst"
    assert discord_standin.channel(dm.channel_id).is_dm
    assert bot.echo.contents == ["psst"]


async def test_members_intent_gets_members_and_member_queries(
    discord_standin: StandinDiscord, start_bot: StartBot
) -> None:
    bot = await start_bot(TinyBot(discord_standin.guild_id, members=True))
    guild = bot.get_guild(discord_standin.guild_id)
    assert guild is not None
    assert {m.name for m in guild.members} == {"homecrew", "alice", "bob"}
    found = await guild.query_members(query="al")
    assert [m.name for m in found] == ["alice"]
    assert discord_standin.events(MembersRequested)
