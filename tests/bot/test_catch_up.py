"""Messages people sent while the bot was away (stopped, or reconnecting without a
resume): answered once, oldest first, when young enough; otherwise one note says how many
were missed. Nothing is answered twice, even after another restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from homecrew.settings import Settings
from tests.support.answered import answered_id, body
from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import DispatchSent, StoredMessage, VisibleMessage
from tests.support.discord_standin.past import past_message
from tests.support.standins import Script

pytestmark = pytest.mark.timeout(120)

MINUTE = 60.0


def _answer(question: str) -> str:
    return f"Re: {question.split(': ', 1)[-1]}"


def _with_window(settings: Settings, seconds: float) -> Settings:
    discord = settings.discord.model_copy(update={"catch_up_window": seconds})
    return settings.model_copy(update={"discord": discord})


async def _caught_up(world: BotWorld, passes: int = 1) -> None:
    await world.discord.wait_until(lambda: world.bot.catch_up.passes >= passes, timeout=30)
    await world.idle(timeout=30)


def _answers_to(world: BotWorld, channel: int | str, message: StoredMessage
                ) -> list[VisibleMessage]:
    """The answers to ``message`` (the stand-in node echoes each question)."""
    found = [a for a in world.answers(channel) if body(a) == _answer(message.content)]
    for answer in found:  # says which message it answers, where that is not plain to see
        assert answered_id(answer) in (message.id, None)
    return found


async def test_a_restart_answers_recent_missed_messages_once_and_notes_old_ones(
    tmp_path: Path,
) -> None:
    options = WorldOptions(team={"startup_slots": 1})  # one start at a time: a strict order
    async with homecrew_world(tmp_path, options, start=False) as world:
        discord = world.discord
        for agent in ("nellie", "gonzo"):
            world.node(agent).script = Script(answer=_answer)
        # The bot answered Nellie 40 minutes ago (a first run with a long window).
        earlier = past_message(discord, "nellie", "alice", "from long ago", age_s=40 * MINUTE)
        world.settings = _with_window(world.settings, 3600)
        await world.start()
        await _caught_up(world)
        assert [body(a) for a in _answers_to(world, "nellie", earlier)] == ["Re: from long ago"]
        thread = await world.user_thread("gonzo", "schema talk")
        await world.stop()

        # Away again; meanwhile two messages too old to answer, three recent ones.
        old = [past_message(discord, "nellie", "bob", f"old {i}", age_s=age * MINUTE)
               for i, age in enumerate((25, 15))]
        recent = [past_message(discord, "nellie", "alice", "recent 1", age_s=4 * MINUTE),
                  past_message(discord, "gonzo", "bob", "recent 2", age_s=3 * MINUTE),
                  past_message(discord, "nellie", "bob", "recent 3", age_s=2 * MINUTE),
                  past_message(discord, thread.id, "alice", "in a thread", age_s=1 * MINUTE)]
        world.settings = _with_window(world.settings, 10 * MINUTE)
        calls = world.calls("nellie")
        await world.start()
        await _caught_up(world)

        places: tuple[int | str, ...] = ("nellie", "gonzo", "nellie", thread.id)
        for message, channel in zip(recent, places, strict=True):
            [answer] = _answers_to(world, channel, message)
            assert body(answer) == f"Re: {message.content}"
        for message in old:
            assert _answers_to(world, "nellie", message) == []
        notes = [a for a in world.answers("nellie") if "missed" in a.content]
        assert [n.content for n in notes] == [
            "I was away for a while and missed 2 messages here from more than 10 minutes ago, "
            "so I haven't answered them. Ask again if you still need me."]
        # oldest first: Nellie was asked "recent 1" before "recent 3", which sees it
        asked = [world.prompt("nellie", i) for i in range(calls, world.calls("nellie"))]
        assert [p.rsplit("\n", 1)[-1] for p in asked] == ["Alice: recent 1", "Bob: recent 3"]
        assert "Alice: recent 1" in asked[1]

        # Another restart: nothing is answered or noted again.
        seen = [len(world.answers(p)) for p in places]
        calls = world.calls("nellie") + world.calls("gonzo")
        await world.restart()
        await _caught_up(world)
        assert [len(world.answers(p)) for p in places] == seen
        assert world.calls("nellie") + world.calls("gonzo") == calls


async def test_messages_sent_while_a_session_could_not_resume_are_answered_once(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    bot_world.node("jax").script = Script(answer=_answer)
    before = await bot_world.converse("jax", "before the gap")
    assert [body(a) for a in before] == ["Re: before the gap"]
    passes = bot_world.bot.catch_up.passes
    mark = discord.mark()
    await discord.drop_gateway(abrupt=True)
    await discord.invalidate_session()  # the session is gone: nothing will be replayed
    gap = [await discord.user_message("jax", "alice", "first in the gap"),
           await discord.user_message("jax", "bob", "second in the gap")]
    live = {int(e.data["id"]) for e in discord.events(DispatchSent, since=mark)
            if e.event == "MESSAGE_CREATE"}
    assert not live & {m.id for m in gap}, "the gap messages never reached the bot live"
    await _caught_up(bot_world, passes + 1)
    assert discord.identify_count == 2
    for message in gap:
        [answer] = _answers_to(bot_world, "jax", message)
        assert body(answer) == f"Re: {message.content}"
    assert bot_world.calls("jax") == 3
    after = await bot_world.converse("jax", "after the gap")
    assert [body(a) for a in after] == ["Re: after the gap"]
