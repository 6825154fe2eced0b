"""Webhook streaming edits, webhooks in threads, modals, selects, option resolution, replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.support.discord_standin import (
    InteractionResponse,
    MessageEdit,
    SentMessage,
    StandinDiscord,
    StandinError,
    ThreadCreated,
    WebhookExecution,
)
from tests.support_discord.tiny_bot import PNG_BYTES, TinyBot

StartBot = Callable[[TinyBot], Awaitable[TinyBot]]
pytestmark = pytest.mark.timeout(30)


async def test_webhook_message_is_streamed_by_edits(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    await discord_standin.user_message("skip", "alice", "stream")
    final = await discord_standin.wait_for_event(
        MessageEdit, lambda e: e.content == "final answer"
    )
    assert [e.content for e in discord_standin.edits(final.message_id)] == [
        "partial", "final answer",
    ]
    assert all(e.source == "webhook" for e in discord_standin.edits(final.message_id))
    shown = discord_standin.channel_view("skip")[-1]
    assert (shown.author_name, shown.content, shown.edited) == ("Skip", "final answer", True)


async def test_webhook_posts_into_a_thread(discord_standin: StandinDiscord, bot: TinyBot) -> None:
    await discord_standin.user_message("gonzo", "alice", "threadhook")
    execution = await discord_standin.wait_for_event(WebhookExecution)
    thread = discord_standin.events(ThreadCreated)[0]
    assert (execution.thread_id, execution.channel_id) == (
        thread.thread_id, discord_standin.channel_id("gonzo"),
    )
    assert thread.message_id is None
    assert discord_standin.channel_texts(thread.thread_id) == ["sub-task result"]


async def test_button_opens_a_modal_whose_submission_reaches_the_bot(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    await discord_standin.user_message("chief", "alice", "gate")
    gate = await discord_standin.wait_for_event(SentMessage, lambda m: bool(m.components))
    click = await discord_standin.click_button(gate.message_id, "changes", "bob")
    opened = await discord_standin.wait_for_response(click)
    assert opened.response_type == 9
    assert opened.data["custom_id"] == "changes-modal"
    submitted = await discord_standin.submit_modal(click, {"reason": "use tabs"})
    answer = await discord_standin.wait_for_response(submitted)
    assert answer.response_type == 4
    assert bot.echo.notes == ["use tabs"]
    assert discord_standin.channel_texts("chief")[-1] == "noted: use tabs"
    with pytest.raises(StandinError):
        await discord_standin.submit_modal(click, {"nonexistent": "x"})


async def test_select_menu_choice_edits_the_original(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    await discord_standin.user_message("chief", "alice", "gate")
    gate = await discord_standin.wait_for_event(SentMessage, lambda m: bool(m.components))
    choice = await discord_standin.select_menu(gate.message_id, "pick", ["b"], "alice")
    deferred = await discord_standin.wait_for_response(choice)
    assert deferred.response_type == 6
    await discord_standin.wait_for_event(MessageEdit, lambda e: e.message_id == gate.message_id)
    assert discord_standin.message(gate.message_id).content == "picked b"
    assert bot.echo.notes == ["b"]


async def test_group_subcommand_with_member_and_int_options(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    bob = discord_standin.user("bob")
    interaction = await discord_standin.slash_command(
        "team", {"member": bob, "count": 3}, "alice", "cleo", subcommand="show"
    )
    response = await discord_standin.wait_for_response(interaction)
    assert response.response_type == 4
    await discord_standin.wait_for_event(MessageEdit, lambda e: e.content == "bob x3!")
    assert discord_standin.channel_texts("cleo") == ["bob x3!"]
    with pytest.raises(StandinError):
        await discord_standin.slash_command("team", {"count": 1}, subcommand="show")
    with pytest.raises(StandinError):
        await discord_standin.slash_command("nope")


async def test_reply_to_the_bot_carries_the_reference(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    await discord_standin.user_message("nellie", "alice", "first")
    first_reply = await discord_standin.wait_for_event(MessageEdit, lambda e: "first" in e.content)
    mark = discord_standin.mark()
    follow = await discord_standin.user_message(
        "nellie", "alice", "and again", reference=first_reply.message_id,
        mentions=[discord_standin.bot_user],
    )
    await discord_standin.wait_for_event(MessageEdit, lambda e: "again" in e.content, since=mark)
    assert follow.reference_id == first_reply.message_id
    texts = discord_standin.channel_texts("nellie")
    assert texts[-1] == "echo: and again (done)"


async def test_attachments_from_users_are_downloadable(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    note = await discord_standin.user_message(
        "jax", "alice", "", attachments=[("notes.txt", b"hello file", "text/plain")]
    )
    assert note.attachments[0].url.startswith(discord_standin.base_url)
    channel = bot.get_channel(discord_standin.channel_id("jax"))
    assert channel is not None
    fetched = await channel.fetch_message(note.id)  # type: ignore[union-attr]
    assert await fetched.attachments[0].read() == b"hello file"
    assert not discord_standin.events(InteractionResponse)


async def test_interaction_response_with_a_file_is_multipart(
    discord_standin: StandinDiscord, bot: TinyBot
) -> None:
    interaction = await discord_standin.slash_command("chart", channel_id="alerts")
    response = await discord_standin.wait_for_response(interaction)
    assert response.response_type == 4
    assert response.data["content"] == "spend chart"
    assert [(f.filename, f.data) for f in response.files] == [("spend.png", PNG_BYTES)]
    assert discord_standin.channel_view("alerts")[-1].attachments == ["spend.png"]
