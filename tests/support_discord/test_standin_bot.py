"""A real discord.py `commands.Bot` logs in to the stand-in and works against it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
import pytest

from tests.support.discord_standin import (
    MESSAGE_CONTENT,
    FollowUp,
    GatewayIdentified,
    HeartbeatReceived,
    MessageEdit,
    RateLimitHit,
    RestCall,
    SentMessage,
    StandinDiscord,
    TypingStarted,
    WebhookCreated,
    WebhookExecution,
    running_bot,
)
from tests.support_discord.tiny_bot import PNG_BYTES, TinyBot

StartBot = Callable[[TinyBot], Awaitable[TinyBot]]
pytestmark = pytest.mark.timeout(30)


async def test_ready_and_guild_create_make_channels_visible(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    guild = bot.get_guild(discord_standin.guild_id)
    assert guild is not None
    names = [c.name for c in guild.text_channels]
    assert names == ["skip", "nellie", "chief", "gonzo", "cleo", "jax", "alerts"]
    assert guild.me is not None
    assert bot.user is not None
    assert bot.user.id == discord_standin.bot_user.id
    assert bot.application_id == discord_standin.application_id
    assert discord_standin.identify_count == 1
    intents = discord_standin.intents
    assert intents is not None
    assert intents & MESSAGE_CONTENT


async def test_user_message_gets_a_reply_that_is_edited(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    sent = await discord_standin.user_message("nellie", "alice", "hello there")
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished)
    view = discord_standin.channel_view("nellie")
    assert [m.content for m in view] == ["hello there", "echo: hello there (done)"]
    reply = view[-1]
    assert reply.author_id == discord_standin.bot_user.id
    assert reply.reference_id == sent.id
    assert reply.edited
    assert discord_standin.sent_messages("nellie")[0].allowed_mentions == {"parse": []}
    assert discord_standin.events(TypingStarted)[0].channel_id == discord_standin.channel_id(
        "nellie"
    )
    # The bot saw its own reply come back over the gateway and ignored it.
    assert bot.echo.seen == [sent.id]
    assert len(discord_standin.sent_messages("nellie")) == 1
    assert discord_standin.errors() == []


async def test_slash_commands_are_synced_to_the_guild_once_and_never_globally(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    guild_syncs = discord_standin.command_syncs("guild")
    assert len(guild_syncs) == 1
    assert sorted(guild_syncs[0].names) == ["chart", "ping", "secret", "slow", "team"]
    assert discord_standin.command_syncs("global") == []
    assert not [c for c in discord_standin.events(RestCall) if c.path.endswith("/commands")
                and "/guilds/" not in c.path]


async def test_ping_is_deferred_then_followed_up(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    interaction = await discord_standin.slash_command("ping", user="bob", channel_id="chief")
    response = await discord_standin.wait_for_response(interaction)
    assert response.response_type == 5
    # in time: the stand-in refuses a callback past Discord's 3 s window, as Discord does
    follow = await discord_standin.wait_for_event(
        FollowUp, lambda f: f.interaction_id == interaction.id
    )
    assert follow.content == "pong"
    assert follow.replaced_loading
    last = discord_standin.channel_view("chief")[-1]
    assert (last.content, last.loading) == ("pong", False)


async def test_ephemeral_answer_is_not_visible_in_the_channel(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    interaction = await discord_standin.slash_command("secret", {"word": "hi"}, "alice", "jax")
    response = await discord_standin.wait_for_response(interaction)
    assert (response.response_type, response.ephemeral) == (4, True)
    assert discord_standin.channel_view("jax") == []
    hidden = discord_standin.channel_view("jax", include_ephemeral=True)
    assert [m.content for m in hidden] == ["psst hi"]


async def test_button_click_reaches_the_view_callback(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    await discord_standin.user_message("gonzo", "alice", "buttons")
    with_button = await discord_standin.wait_for_event(SentMessage, lambda m: bool(m.components))
    alice = discord_standin.user("alice")
    click = await discord_standin.click_button(with_button.message_id, "press", alice)
    response = await discord_standin.wait_for_response(click)
    assert response.response_type == 7
    assert bot.echo.clicks == [alice.id]
    final = discord_standin.channel_view("gonzo")[-1]
    assert (final.content, final.components) == ("pressed", [])


async def test_webhook_is_created_and_executed_with_a_username_override(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    mark = discord_standin.mark()
    await discord_standin.user_message("cleo", "alice", "hook")
    execution = await discord_standin.wait_for_event(WebhookExecution)
    created = discord_standin.events(WebhookCreated)
    assert [w.channel_id for w in created] == [discord_standin.channel_id("cleo")]
    assert execution.username == "Nellie"
    assert execution.avatar_url == "http://127.0.0.1/n.png"
    assert execution.wait
    posted = discord_standin.channel_view("cleo")[-1]
    assert (posted.author_name, posted.webhook_id) == ("Nellie", execution.webhook_id)
    # The webhook's message came back over the gateway and the bot did not answer it.
    await discord_standin.user_message("cleo", "alice", "after")
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished, since=mark)
    assert bot.echo.contents == ["hook", "after"]


async def test_file_upload_is_stored_byte_for_byte(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    await discord_standin.user_message("alerts", "alice", "chart")
    sent = await discord_standin.wait_for_event(SentMessage, lambda m: bool(m.files))
    assert sent.files[0].filename == "chart.png"
    assert sent.files[0].data == PNG_BYTES
    assert discord_standin.channel_view("alerts")[-1].attachments == ["chart.png"]


async def test_a_429_is_waited_out_and_the_message_still_lands(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    rule = discord_standin.rate_limit_next("POST /channels/{channel_id}/messages", retry_after=0.3)
    await discord_standin.user_message("skip", "alice", "busy")
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished)
    hit = discord_standin.events(RateLimitHit)[0]
    sent = discord_standin.sent_messages("skip")[0]
    assert rule.hits == 1
    assert sent.at - hit.at >= 0.25
    assert discord_standin.channel_texts("skip")[-1] == "echo: busy (done)"


async def test_gateway_drop_is_resumed_without_lost_or_duplicated_dispatches(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    first = await discord_standin.user_message("skip", "alice", "one")
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished)
    mark = await discord_standin.drop_gateway()
    second = await discord_standin.user_message("skip", "alice", "two")  # sent while down
    resumed = await discord_standin.wait_resumed(since=mark)
    assert resumed.replayed == 1
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished, since=mark)
    assert discord_standin.identify_count == 1
    assert discord_standin.resume_count == 1
    assert bot.echo.seen == [first.id, second.id]
    assert discord_standin.channel_texts("skip")[-1] == "echo: two (done)"


async def test_threads_are_created_and_usable(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    await discord_standin.user_message("jax", "alice", "thread")
    in_thread = await discord_standin.wait_for_event(
        SentMessage, lambda m: m.content == "in the thread"
    )
    thread = discord_standin.channel(in_thread.channel_id)
    assert (thread.is_thread, thread.parent_id) == (True, discord_standin.channel_id("jax"))
    guild = bot.get_guild(discord_standin.guild_id)
    assert guild is not None
    await discord_standin.wait_until(lambda: guild.get_thread(thread.id) is not None)
    mark = discord_standin.mark()
    await discord_standin.user_message(thread.id, "bob", "inside")
    edit = await discord_standin.wait_for_event(MessageEdit, TinyBot.finished, since=mark)
    assert edit.channel_id == thread.id


async def test_discord_limits_are_enforced(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    await discord_standin.user_message("chief", "alice", "too long")
    await discord_standin.wait_until(lambda: bool(bot.echo.errors))
    error = bot.echo.errors[0]
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (400, 50035)
    assert [e.code for e in discord_standin.errors()] == [50035]


async def test_late_interaction_response_is_rejected(
    discord_standin: StandinDiscord, start_bot: StartBot
) -> None:
    async with StandinDiscord(interaction_timeout=0.2, heartbeat_interval_ms=500) as standin:
        bot = TinyBot(standin.guild_id)
        async with running_bot(standin, bot):
            await standin.slash_command("slow")
            await standin.wait_until(lambda: bool(bot.echo.errors))
        assert isinstance(bot.echo.errors[0], discord.NotFound)
        assert bot.echo.errors[0].code == 10062


async def test_without_the_message_content_intent_content_arrives_empty(
    discord_standin: StandinDiscord, start_bot: StartBot
) -> None:
    bot = await start_bot(TinyBot(discord_standin.guild_id, message_content=False))
    intents = discord_standin.intents
    assert intents is not None
    assert not intents & MESSAGE_CONTENT
    await discord_standin.user_message("skip", "alice", "secret words")
    await discord_standin.wait_for_event(MessageEdit, TinyBot.finished)
    assert bot.echo.contents == [""]


async def test_heartbeats_are_acknowledged(discord_standin: StandinDiscord, bot: TinyBot) -> None:
    identified = discord_standin.events(GatewayIdentified)[0]
    beat = await discord_standin.wait_for_event(
        HeartbeatReceived, lambda h: h.session_id == identified.session_id, timeout=3
    )
    assert beat.ack_latency >= 0  # the stand-in answered this heartbeat with an ACK ...
    # ... and discord.py took it: its latency is measured from heartbeat to ACK
    await discord_standin.wait_until(lambda: bot.latency != float("inf"), timeout=3)


async def test_bad_token_is_a_login_failure(discord_standin: StandinDiscord) -> None:
    bot = TinyBot(discord_standin.guild_id)
    with pytest.raises(discord.LoginFailure):
        async with running_bot(discord_standin, bot, token="not-the-token"):
            pass
    assert [c.status for c in discord_standin.events(RestCall)] == [401]
    assert discord_standin.identify_count == 0
