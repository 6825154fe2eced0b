"""Streamed replies as users see them: long replies across messages with intact code
blocks, 429s waited out, the bot-wide edit throttle, the footer, and no pings ever."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.answered import body
from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import MessageEdit, RateLimitHit, SentMessage
from tests.support.standins import Script

pytestmark = pytest.mark.timeout(90)
_FENCE = re.compile(r"^```", re.MULTILINE)


async def test_a_long_code_heavy_reply_continues_in_more_messages_with_blocks_intact(
    bot_world: BotWorld,
) -> None:
    code = "\n".join(f"def step_{i}(x):\n    return x * {i}  # keep going" for i in range(120))
    text = f"Here is the module:\n\n```python\n{code}\n```\n\nRun it with `python -m steps`."
    bot_world.node("gonzo").script = Script(reply=text, chunk_chars=400)
    replies = await bot_world.converse("gonzo", "write me the steps module")
    assert len(replies) >= 3
    assert all(m.author_name == "Gonzo" for m in replies)
    for message in replies:
        assert len(message.content) <= 2000
        assert len(_FENCE.findall(message.content)) % 2 == 0, "each message closes its block"
    for message in replies[1:-1]:
        assert message.content.startswith("```python\n")
    assert replies[0].content.startswith("Here is the module:")
    assert replies[-1].content.endswith("Run it with `python -m steps`.")
    shown = "".join(m.content for m in replies)
    for i in range(120):
        assert f"def step_{i}(x):" in shown
    assert bot_world.discord.errors() == []


async def test_rate_limits_are_waited_out_and_the_reply_still_completes(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    text = "A fairly long answer. " * 40
    bot_world.node("cleo").script = Script(reply=text, chunk_chars=40, chunk_delay=0.03)
    rule = discord.rate_limit_next("PATCH /webhooks/*", retry_after=0.3, count=2)
    post_rule = discord.rate_limit_next("POST /webhooks/*", retry_after=0.2)
    replies = await bot_world.converse("cleo", "talk to me")
    assert [m.content for m in replies] == [text]
    assert rule.hits == 2 and post_rule.hits == 1
    assert len(discord.events(RateLimitHit)) == 3
    assert discord.errors() == []


async def test_many_replies_at_once_share_the_bot_wide_edit_budget(tmp_path: Path) -> None:
    options = WorldOptions(discord={"edits_per_second": 4.0, "edit_interval": 0.3})
    async with homecrew_world(tmp_path, options) as world:
        discord = world.discord
        agents = ["nellie", "chief", "gonzo", "cleo", "jax"]
        texts = {a: " ".join(f"{a}{i}" for i in range(150)) for a in agents}
        for agent in agents:
            world.node(agent).script = Script(reply=texts[agent], chunk_chars=8,
                                              chunk_delay=0.01)
        mark = discord.mark()
        for agent in agents:
            for _ in range(2):
                await discord.user_message(agent, "alice", "go")
        await discord.wait_until(
            lambda: len([e for e in discord.events(SentMessage, since=mark) if e.webhook_id])
            == 10, timeout=20)
        await world.idle(timeout=40)
        edits = sorted(e.at for e in discord.events(MessageEdit, since=mark))
        for agent in agents:
            assert [body(m) for m in world.answers(agent)] == [texts[agent]] * 2
    assert edits, "replies were edited as they streamed"
    for index, start in enumerate(edits):
        in_window = [t for t in edits[index:] if t - start < 1.0]
        assert len(in_window) <= 4 + 4, "never more than the budget (plus the burst) per second"
    assert discord.events(RateLimitHit) == []


async def test_the_footer_shows_where_the_answer_came_from_where_it_is_on(
    tmp_path: Path,
) -> None:
    options = WorldOptions(backup=True, discord={"footer_channels": ["nellie", "cleo"]})
    async with homecrew_world(tmp_path, options) as world:
        plain = await world.converse("gonzo", "no footer here")
        footed = await world.converse("cleo", "hello cleo")
        await world.node("nellie").stop()
        fell_back = await world.converse("nellie", "hello nellie")
    assert plain[-1].content == "Gonzo here: all good."
    assert re.fullmatch(r"Cleo here: all good\.\n\n-# cleo-node · cleo-local · \d+\.\d s · "
                        r"\$0\.0000", footed[-1].content)
    assert fell_back[-1].content.startswith("Backup node here.\n\n-# backup · backup-qwen · ")
    assert fell_back[-1].content.endswith("fell back to backup")


async def test_model_output_can_never_ping_anyone(bot_world: BotWorld) -> None:
    alice = bot_world.discord.user("alice")
    admin = bot_world.discord.role("admin")
    pings = f"@everyone @here {alice.mention} {admin.mention} look!"
    bot_world.node("jax").script = Script(reply=pings, chunk_chars=5, chunk_delay=0.05)
    replies = await bot_world.converse("jax", "say hi to everyone")
    assert replies[-1].content == pings
    assert replies[-1].allowed_mentions == {"parse": []}
    posted = [e for e in bot_world.discord.events(SentMessage) if e.username == "Jax"]
    assert all(e.allowed_mentions == {"parse": []} for e in posted)
    assert all(e.changed.get("allowed_mentions") == {"parse": []}
               for e in bot_world.discord.edits(replies[-1].id))
