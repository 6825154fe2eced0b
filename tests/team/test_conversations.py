"""Conversations through the real chain and store: streaming, history, budget, agent tags,
retry and stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inference.runtime import InferenceStack
from team.engine import TeamEngine
from team.errors import Refused, UnknownAgent
from team.events import ReplyFinished, TextDelta
from tests.support.standins import OpenAIStandin, Script, ServerThread
from watch.gate_data import ManualChiefCheck

from .conftest import team_settings
from .helpers import chat_bodies, drain, first_text, system_of, texts


async def test_reply_streams_in_the_agents_voice_through_its_route(
    engine: TeamEngine, node: OpenAIStandin, stack: InferenceStack
) -> None:
    # paced, so the deltas arrive in separate reads (one read's text goes on as one piece)
    node.script = Script(reply="Verified: MLX targets Apple Silicon.", chunk_chars=5,
                         chunk_delay=0.02)
    events, record = await drain(await engine.reply("chan-1", "nellie", "What is MLX?",
                                                    author="ana"))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and texts(events) == "Verified: MLX targets Apple Silicon."
    assert record.status == "complete" and record.text == texts(events)
    assert record.done is not None and record.done.route == "nellie-research"
    body = chat_bodies(node)[0]
    system = system_of(body)
    assert "Nellie — Research Specialist" in system and "Ultimate authority on facts." in system
    assert "Gonzo — Database Architect" in system  # the charter names the colleagues
    assert body["messages"][-1] == {"role": "user", "content": "ana: What is MLX?"}
    await stack.ledger.flush()
    db = await stack.database()
    rows = await db.fetch("SELECT agent, route FROM ledger")
    assert [(r["agent"], r["route"]) for r in rows] == [("nellie", "nellie-research")]


async def test_history_is_persisted_and_sent_with_the_next_turn(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    node.queue(Script(reply="First answer."), Script(reply="Second answer."))
    await drain(await engine.reply("chan-2", "gonzo", "Design a users table", author="ana"))
    await drain(await engine.reply("chan-2", "gonzo", "Add an index", author="bo"))
    second = chat_bodies(node)[1]["messages"][1:]
    assert second == [
        {"role": "user", "content": "ana: Design a users table"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "bo: Add an index"},
    ]
    stored = await engine.history("chan-2")
    assert [(m.role, m.agent, m.content) for m in stored] == [
        ("user", "gonzo", "Design a users table"), ("agent", "gonzo", "First answer."),
        ("user", "gonzo", "Add an index"), ("agent", "gonzo", "Second answer."),
    ]
    # other conversations do not see it
    await drain(await engine.reply("chan-3", "gonzo", "Hello", author="ana"))
    assert len(chat_bodies(node)[2]["messages"]) == 2


async def test_other_agents_messages_are_attributed(engine: TeamEngine, node: OpenAIStandin
                                                     ) -> None:
    node.queue(Script(reply="The hook: a server on fire."), Script(reply="Checked."))
    await drain(await engine.reply("thread-9", "jax", "Pitch a video", author="ana"))
    await drain(await engine.reply("thread-9", "nellie", "Is that accurate?", author="ana"))
    sent = chat_bodies(node)[1]["messages"]
    assert {"role": "user",
            "content": "[Jax — Creative Director]: The hook: a server on fire."} in sent


async def test_history_is_trimmed_to_the_routes_smallest_context(
    node: OpenAIStandin, tmp_path: Path
) -> None:
    settings = team_settings(node.base_url, tmp_path, context_window=1600,
                             reply_reserve_tokens=200)
    node.script = Script(reply="ok")
    async with InferenceStack.open(settings, probes=False) as stack, \
            TeamEngine.open(stack, settings.team, chief=ManualChiefCheck()) as engine:
        for i in range(12):
            await drain(await engine.reply("long", "cleo", f"message {i} " + "word " * 60))
    last = chat_bodies(node)[-1]["messages"]
    sent_tokens = sum(len(m["content"]) // 4 for m in last)
    assert sent_tokens <= 1600 - 200
    assert last[-1]["content"].startswith("user: message 11")
    assert not any("message 0 " in m["content"] for m in last)  # the oldest turns went first
    assert len(last) < 2 * 12


async def test_unknown_agent_and_empty_message(engine: TeamEngine) -> None:
    with pytest.raises(UnknownAgent, match="nellie"):
        await engine.reply("c", "bob", "hi")
    with pytest.raises(Refused, match="empty"):
        await engine.reply("c", "nellie", "   ")


async def test_retry_regenerates_the_last_reply_without_the_cache(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    node.queue(Script(reply="Take one."), Script(reply="Take two."))
    await drain(await engine.reply("chan-r", "cleo", "Make it pop", author="ana"))
    _, record = await drain(await engine.retry("chan-r"))
    assert record.text == "Take two." and record.done is not None
    assert not record.done.cached
    bodies = chat_bodies(node)
    assert bodies[0]["messages"] == bodies[1]["messages"]  # the same prompt, asked again
    history = await engine.history("chan-r")
    assert [(m.content, m.status) for m in history if m.role == "agent"] == [
        ("Take one.", "superseded"), ("Take two.", "complete")]
    assert len([m for m in history if m.role == "user"]) == 1
    with pytest.raises(Refused, match="nothing to retry"):
        await engine.retry("never-used")


async def test_stop_cancels_the_reply_in_flight(engine: TeamEngine, node: OpenAIStandin) -> None:
    node.script = Script(reply="word " * 200, chunk_chars=5, chunk_delay=0.05)
    handle = await engine.reply("chan-s", "jax", "Write a long script")
    await first_text(handle)
    assert engine.stop("chan-s", "user pressed stop") == 1
    _, record = await drain(handle)
    assert record.status == "cancelled" and record.reason == "user pressed stop"
    assert 0 < len(record.text) < len("word " * 200)
    stored = await engine.history("chan-s")
    assert stored[-1].status == "cancelled"
    node.script = Script(reply="Fresh.")
    _, after = await drain(await engine.reply("chan-s", "jax", "Again"))
    sent = chat_bodies(node)[-1]["messages"]
    assert after.text == "Fresh." and all("word word" not in m["content"] for m in sent)


async def test_turns_in_one_conversation_run_at_once_each_with_the_conversation_as_it_was(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    await drain(await engine.reply("chan-q", "gonzo", "Design a users table", author="ana"))
    node.first_token_gate = gate = asyncio.Event()
    node.script = Script(reply="Answer.")
    handles = [await engine.reply("chan-q", "gonzo", text, author=who)
               for who, text in (("bo", "Add an index"), ("cy", "Add a view"),
                                 ("di", "Drop the view"))]
    async with asyncio.timeout(10):
        await node.wait_for_requests(4, "/v1/chat/completions")  # all three in flight at once
    assert not any(h.done for h in handles)
    gate.set()
    records = [(await drain(h))[1] for h in handles]
    assert [r.status for r in records] == ["complete"] * 3
    sent = [[m["content"] for m in body["messages"][1:]] for body in chat_bodies(node)[1:]]
    asked = {prompt[-1]: prompt[:-1] for prompt in sent}
    earlier = ["ana: Design a users table", "Howdy from the stand-in."]
    # each turn sees what was said before its message arrived, no answer still being written
    assert asked["bo: Add an index"] == earlier
    assert asked["cy: Add a view"] == [*earlier, "bo: Add an index"]
    assert asked["di: Drop the view"] == [*earlier, "bo: Add an index", "cy: Add a view"]
    # the store keeps each question with its answer, in the order the questions came
    stored = await engine.history("chan-q")
    assert [(m.role, m.content) for m in stored[2:]] == [
        ("user", "Add an index"), ("agent", "Answer."), ("user", "Add a view"),
        ("agent", "Answer."), ("user", "Drop the view"), ("agent", "Answer.")]
    node.script = Script(reply="Done.")
    await drain(await engine.reply("chan-q", "gonzo", "Summarise", author="ana"))
    last = [m["content"] for m in chat_bodies(node)[-1]["messages"][1:]]
    assert last[2:] == ["bo: Add an index", "Answer.", "cy: Add a view", "Answer.",
                        "di: Drop the view", "Answer.", "ana: Summarise"]


async def test_stop_ends_every_reply_running_in_the_conversation(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    node.script = Script(reply="slow " * 100, chunk_chars=5, chunk_delay=0.05)
    first = await engine.reply("chan-s2", "gonzo", "one")
    second = await engine.reply("chan-s2", "gonzo", "two")
    await first_text(first)
    await first_text(second)
    other = await engine.reply("chan-other", "gonzo", "elsewhere")
    await first_text(other)
    assert engine.stop("chan-s2") == 2
    (_, one), (_, two) = await asyncio.gather(drain(first), drain(second))
    assert one.status == two.status == "cancelled"
    _, third = await drain(other)
    assert third.status == "complete", "a stop in one conversation leaves the others alone"


async def test_a_turn_stopped_before_its_worker_ran_still_ends(engine: TeamEngine) -> None:
    # /stop right after the message: the worker task is cancelled before its first step,
    # so nothing inside it reports the end; the engine does, and nobody waits forever.
    handle = await engine.reply("c-stopped", "gonzo", "hi", author="ana")
    handle.cancel("stopped before it started")
    async with asyncio.timeout(5):
        record = await handle.result()
    assert record.status == "cancelled"
    assert record.reason == "stopped before it started"


def test_history_survives_a_restart(tmp_path: Path, database_url: str | None) -> None:
    """Two processes, one after the other (each its own event loop), one store."""
    with ServerThread(lambda: OpenAIStandin(script=Script(reply="Remembered."))) as node:
        settings = team_settings(node.base_url, tmp_path, database_url)

        async def one_process(text: str) -> ReplyFinished:
            async with InferenceStack.open(settings, probes=False) as stack, \
                    TeamEngine.open(stack, settings.team, chief=ManualChiefCheck()) as engine:
                return (await drain(await engine.reply("keep", "chief", text)))[1]

        assert asyncio.run(one_process("first")).text == "Remembered."
        node.server.script = Script(reply="Still here.")
        assert asyncio.run(one_process("second")).text == "Still here."
        sent = node.server.requests_to("/v1/chat/completions")[1].body["messages"]
    assert {"role": "assistant", "content": "Remembered."} in sent
