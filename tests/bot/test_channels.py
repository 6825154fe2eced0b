"""Who answers where: agent channels, threads, replies to the bot, per-channel webhooks,
and the messages the bot must never answer."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import (
    MessageEdit,
    SentMessage,
    StandinDiscord,
    TypingStarted,
    UserMessage,
    WebhookCreated,
    WebhookExecution,
)
from tests.support.standins import Script

pytestmark = pytest.mark.timeout(60)

_AGENTS = {"skip": "Skip", "nellie": "Nellie", "chief": "Chief", "gonzo": "Gonzo",
           "cleo": "Cleo", "jax": "Jax"}


async def test_each_agent_answers_in_its_own_channel_under_its_own_name(
    bot_world: BotWorld,
) -> None:
    for agent, name in _AGENTS.items():
        if agent == "skip":
            continue  # Skip plans first; see test_delegation
        replies = await bot_world.converse(agent, f"hello {agent}")
        assert [(m.author_name, m.content) for m in replies] == [
            (name, f"{name} here: all good.")]
        assert replies[0].webhook_id is not None
        assert f"You are {name}" in bot_world.prompt(agent)
    size = bot_world.settings.discord.webhooks_per_channel
    per_channel = Counter(w.channel_id for w in bot_world.discord.events(WebhookCreated))
    assert sorted(per_channel.values()) == [size] * 6, "the same few webhooks per channel"


async def test_channel_webhooks_are_taken_in_turn_and_reused_after_a_restart(
    bot_world: BotWorld,
) -> None:
    size = bot_world.settings.discord.webhooks_per_channel
    assert size > 1
    for index in range(size):
        await bot_world.converse("nellie", f"message {index}")
    await bot_world.restart()
    mark = bot_world.discord.mark()
    await bot_world.converse("nellie", "after the restart")
    nellie = bot_world.discord.channel_id("nellie")
    made = {w.webhook_id for w in bot_world.discord.events(WebhookCreated)
            if w.channel_id == nellie}
    used = [e.webhook_id for e in bot_world.discord.events(WebhookExecution)
            if e.channel_id == nellie]
    assert len(made) == size
    assert set(used[:size]) == made, "each reply takes the next webhook"
    assert bot_world.discord.events(WebhookCreated, since=mark) == [], "found again"
    assert used[-1] in made


async def test_a_channel_near_discords_webhook_limit_uses_what_it_can_get(
    tmp_path: Path,
) -> None:
    options = WorldOptions(discord={"webhooks_per_channel": 3})
    async with homecrew_world(tmp_path, options, start=False) as world:
        state = world.discord.state
        nellie = world.discord.channel_id("nellie")
        for index in range(14):  # someone else's integrations
            state.new_webhook(nellie, f"other {index}", None)
        await world.start()
        replies = await world.converse("nellie", "hello")
        assert [m.author_name for m in replies] == ["Nellie"]
        mine = [w for w in world.discord.events(WebhookCreated) if w.channel_id == nellie]
        assert len(mine) == 1
        assert replies[0].webhook_id == mine[0].webhook_id


async def test_its_own_webhook_messages_and_other_bots_are_never_answered(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    other = discord.state.world.add_user("otherbot", bot=True)
    await discord.user_message("gonzo", other, "beep, I am a bot")
    await bot_world.converse("gonzo", "hi gonzo")
    # The agent's own reply came back over the gateway too, and was not answered.
    assert bot_world.calls("gonzo") == 1
    assert [m.author_name for m in bot_world.answers("gonzo")] == ["otherbot", "Gonzo"]


async def test_dms_and_channels_without_an_agent_are_ignored(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    dm = await discord.user_dm("alice", "psst nellie")
    await discord.user_message("alerts", "alice", "anyone?")
    await bot_world.converse("cleo", "and now cleo")  # answered: the others were seen first
    assert discord.channel_view(dm.channel_id)[-1].content == "psst nellie"
    assert bot_world.answers("alerts") == []
    assert bot_world.calls("nellie") == 0


async def test_a_thread_under_an_agent_channel_is_its_own_conversation(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    await bot_world.converse("jax", "the channel topic is rockets")
    starter = await discord.user_message("jax", "alice", "let's talk boats in a thread")
    await bot_world.settled(starter)
    thread = await bot_world.user_thread("jax", "boats")
    bot_world.node("jax").script = Script(reply="Boats it is.")
    replies = await bot_world.converse(thread.id, "what were we talking about?")
    assert [m.content for m in replies] == ["Boats it is."]
    prompt = bot_world.prompt("jax")
    assert "what were we talking about?" in prompt
    assert "rockets" not in prompt, "a thread starts its own conversation"
    again = await bot_world.converse(thread.id, "and before that?")
    assert again[-1].author_name == "Jax"
    assert "what were we talking about?" in bot_world.prompt("jax")


async def test_context_follows_the_conversation_and_survives_a_restart(
    bot_world: BotWorld,
) -> None:
    bot_world.node("cleo").script = Script(reply=["Noted: teal.", "You said teal."])
    await bot_world.converse("cleo", "my favourite colour is teal")
    await bot_world.restart()
    replies = await bot_world.converse("cleo", "what is my favourite colour?")
    assert replies[-1].content == "You said teal."
    prompt = bot_world.prompt("cleo")
    assert "my favourite colour is teal" in prompt and "Noted: teal." in prompt


async def test_a_reply_to_an_agent_elsewhere_is_answered_by_that_agent(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    asked = await discord.slash_command("ask", {"agent": "nellie", "prompt": "hi there"},
                                        "alice", "alerts")
    await discord.wait_for_response(asked)
    nellie_said = await discord.wait_for_event(
        SentMessage, lambda m: m.username == "Nellie" and m.channel_id == discord.channel_id(
            "alerts"))
    await bot_world.idle()
    bot_world.node("nellie").script = Script(reply="Still me, Nellie.")
    replies = await bot_world.converse("alerts", "and one more thing", reference=nellie_said
                                       .message_id)
    assert replies[-1].author_name == "Nellie"
    assert replies[-1].content == "Still me, Nellie."
    assert 'replying to Nellie: "Nellie here: all good."' in bot_world.prompt("nellie")


async def test_a_new_persona_file_and_channel_add_an_agent(tmp_path: Path) -> None:
    from personas.loader import default_personas_dir

    personas = tmp_path / "personas"
    personas.mkdir()
    for source in default_personas_dir().glob("*.yaml"):
        (personas / source.name).write_text(source.read_text())
    (personas / "pixel.yaml").write_text(
        "name: pixel\ntitle: Pixel Artist\ndivision: production\nmotto: Every pixel counts.\n"
        "summary: Draws things.\nvoice: Playful.\nspecialty: Pixel art.\n"
        "authority: Owns the sprites.\nroute: pixel-art\n"
        "avatar_url: http://127.0.0.1/pixel.png\n")
    options = WorldOptions(
        team={"personas_dir": str(personas)},
        agents={**WorldOptions().agents, "pixel": "pixel-art"},
        standin={"text_channels": ("skip", "nellie", "chief", "gonzo", "cleo", "jax",
                                   "alerts", "pixel")},
    )
    async with homecrew_world(tmp_path / "data", options) as world:
        replies = await world.converse("pixel", "draw me a cat")
        execution = world.discord.events(WebhookExecution)[-1]
    assert replies[-1].author_name == "Pixel"
    assert replies[-1].content == "Pixel here: all good."
    assert execution.avatar_url == "http://127.0.0.1/pixel.png"


async def test_streams_are_edited_in_place_at_most_about_once_a_second(
    bot_world: BotWorld,
) -> None:
    discord: StandinDiscord = bot_world.discord
    text = " ".join(f"word{i}" for i in range(120))
    bot_world.node("nellie").script = Script(reply=text, chunk_chars=6, chunk_delay=0.02,
                                             first_token_delay=0.3)
    mark = discord.mark()
    replies = await bot_world.converse("nellie", "stream please")
    assert [m.content for m in replies] == [text]
    reply_id = replies[0].id
    edits = [e for e in discord.edits(reply_id) if e.at >= discord.recorder._events[mark].at]
    assert len(edits) >= 2, "the message grew by edits"
    gaps = [b.at - a.at for a, b in itertools.pairwise(edits)]
    assert min(gaps) >= 0.9
    first_post = next(e for e in discord.events(SentMessage, since=mark) if e.message_id ==
                      reply_id)
    assert first_post.content != text, "posted at the first tokens, not at the end"
    typing = discord.events(TypingStarted, since=mark)
    assert typing and typing[0].at < first_post.at, "typing shows while the node thinks"
    asked = next(e for e in discord.events(UserMessage, since=mark))
    assert typing[0].at - asked.at < 0.3, "within the typing grace, not at the first text"
    assert typing[0].channel_id == discord.channel_id("nellie")
    assert edits[-1].content == text
    assert all(isinstance(e, MessageEdit) for e in edits)


async def test_an_instant_reply_is_posted_without_a_typing_flash(tmp_path: Path) -> None:
    options = WorldOptions(discord={"typing_grace": 2.0})  # far above a stand-in's answer
    async with homecrew_world(tmp_path, options) as world:
        mark = world.discord.mark()
        replies = await world.converse("nellie", "quick one")
        assert replies[-1].content == "Nellie here: all good."
        assert world.discord.events(TypingStarted, since=mark) == []


async def test_without_manage_webhooks_agents_speak_through_the_bot(tmp_path: Path) -> None:
    from tests.support.discord_standin.world import DEFAULT_BOT_PERMISSIONS, MANAGE_WEBHOOKS

    options = WorldOptions(standin={"bot_permissions": DEFAULT_BOT_PERMISSIONS & ~MANAGE_WEBHOOKS})
    async with homecrew_world(tmp_path, options) as world:
        first = await world.converse("nellie", "hello")
        world.node("nellie").script = Script(reply="Still Nellie.")
        again = await world.converse("alerts", "one more", reference=first[-1].id)
    assert first[-1].webhook_id is None and first[-1].author_name == "homecrew"
    assert first[-1].content == "**Nellie:** Nellie here: all good."
    assert first[-1].allowed_mentions == {"parse": [], "replied_user": False}
    assert again[-1].content == "**Nellie:** Still Nellie."
