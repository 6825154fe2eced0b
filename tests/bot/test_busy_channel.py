"""Many people talking to one agent at once: every answer starts at once (no answer waits
for another to finish), is complete, and says which message it answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.answered import answered_id, body, reference_line
from tests.support.bot_harness import WorldOptions, homecrew_world
from tests.support.discord_standin import SentMessage
from tests.support.standins import Script

pytestmark = pytest.mark.timeout(180)

BURST = 30


def _answer(question: str) -> str:
    return f"Answer to [{question.split(': ', 1)[-1]}]"


async def test_thirty_messages_in_one_channel_are_answered_at_once(tmp_path: Path) -> None:
    options = WorldOptions(timeouts={"first_token": 60, "total": 120})
    async with homecrew_world(tmp_path, options) as world:
        discord = world.discord
        node = world.node("gonzo")
        node.script = Script(answer=_answer, chunk_chars=6)
        node.first_token_gate = gate = asyncio.Event()  # no answer can finish until opened
        users = [discord.add_user(f"person{i}") for i in range(BURST)]
        mark = discord.mark()
        asked = await asyncio.gather(*(
            discord.user_message("gonzo", user.name, f"question {i}")
            for i, user in enumerate(users)))
        async with asyncio.timeout(60):
            await node.wait_for_requests(BURST, "/v1/chat/completions")
        # every model request is in flight together: none waited for another answer
        assert not [e for e in discord.events(SentMessage, since=mark) if e.webhook_id]
        assert len(world.ctx.tracker.in_place(discord.channel_id("gonzo"))) == BURST
        gate.set()
        await world.idle(timeout=90)

        answers = world.answers("gonzo", after=min(m.id for m in asked))
        assert len(answers) == BURST, [a.content for a in answers]
        for message, user in zip(asked, users, strict=True):
            [answer] = [a for a in answers if answered_id(a) == message.id]
            assert answer.author_name == "Gonzo"
            assert body(answer) == f"Answer to [{message.content}]"
            assert reference_line(answer) == (user.id, message.id)  # the asker, linked
            assert answer.allowed_mentions == {"parse": []}  # named, never pinged
        assert world.ctx.tracker.failures == 0


async def test_a_lone_question_gets_a_plain_answer(tmp_path: Path) -> None:
    async with homecrew_world(tmp_path) as world:
        world.node("cleo").script = Script(reply="A clean answer.")
        [answer] = await world.converse("cleo", "hello?")
        assert answer.content == "A clean answer.", "no reference line where it is obvious"
        second = await world.discord.user_message("cleo", "bob", "and me?")
        third = await world.discord.user_message("cleo", "alice", "me too")
        await world.settled(third)
        await world.idle()
        later = world.answers("cleo", after=third.id)
        # two questions in a row: each answer says which one it answers
        assert sorted(answered_id(a) or 0 for a in later) == [second.id, third.id]
        assert all(body(a) == "A clean answer." for a in later)
