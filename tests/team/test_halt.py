"""Chief's halt: production work frozen across conversations, in-flight calls cancelled,
work accepted before it waiting, new work refused; resume releases it. Also across processes."""

from __future__ import annotations

import asyncio

import pytest

from homecrew.settings import Settings
from store import open_database
from team.actors import Actor
from team.board import TaskBoard
from team.engine import TeamEngine
from team.errors import Refused
from team.events import ReplyEvent, StepFinished, Waiting
from team.halt import HaltSwitch
from team.replies import ReplyHandle
from tests.support.standins import OpenAIStandin, Script
from watch.gate_data import ManualChiefCheck

from .helpers import drain, first_text, plan_json

SLOW = Script(reply="word " * 30, chunk_chars=5, chunk_delay=0.03)
CHIEF = Actor.agent("chief")
ANA = Actor.person("ana")


async def _until_waiting(handle: ReplyHandle) -> list[ReplyEvent]:
    seen: list[ReplyEvent] = []
    async with asyncio.timeout(10):
        async for event in handle:
            seen.append(event)
            if isinstance(event, Waiting):
                return seen
    raise AssertionError(f"never waited: {seen}")


async def test_halt_freezes_production_everywhere_and_resume_releases(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    node.queue(SLOW, SLOW, SLOW)
    node.script = Script(reply="Back to work.")
    gonzo = await engine.reply("chan-a", "gonzo", "Migrate the schema")
    await first_text(gonzo)
    jax = await engine.reply("thread-b", "jax", "Storyboard the intro")
    await first_text(jax)
    nellie = await engine.reply("chan-c", "nellie", "Check the benchmark")
    await first_text(nellie)
    task = await engine.board.create(ANA, kind="feature", owner="cleo", title="Dark mode")

    await engine.halt(CHIEF, "disk at 95% on the Mac Studio")

    (_, g), (_, j), (_, n) = await asyncio.gather(drain(gonzo), drain(jax), drain(nellie))
    assert (g.status, j.status) == ("halted", "halted")
    assert "disk at 95% on the Mac Studio" in (g.reason or "")
    assert n.status == "complete" and n.text == "word " * 30  # Operations keeps working

    refused = await drain(await engine.reply("chan-d", "cleo", "New page please"))
    assert refused[1].status == "refused"
    assert "new work for cleo is refused" in (refused[1].reason or "")
    assert "disk at 95%" in (refused[1].reason or "")
    with pytest.raises(Refused, match="disk at 95%"):
        await engine.board.create(ANA, kind="script", owner="jax", title="New video")
    frozen = await engine.board.request(ANA, task.id, "design")
    assert not frozen.allowed and "halted by chief" in frozen.blocks[0]
    research = await engine.board.create(ANA, kind="research", owner="nellie", title="MLX")
    await engine.board.request(ANA, research.id, "implementation")
    await engine.board.request(ANA, research.id, "review")
    await engine.board.attach(ANA, research.id, "docs", "report")
    no_ship = await engine.board.ship(ANA, research.id)
    assert no_ship.blocks[0].startswith("nothing ships during a halt")

    await engine.resume(CHIEF, "disk cleaned")
    assert (await engine.board.request(ANA, task.id, "design")).allowed
    assert (await engine.board.ship(ANA, research.id)).allowed
    _, fresh = await drain(await engine.reply("chan-d", "cleo", "Now?"))
    assert fresh.status == "complete"


async def test_only_chief_or_an_admin_may_halt(engine: TeamEngine) -> None:
    with pytest.raises(Refused, match="only chief or an admin may halt"):
        await engine.halt(ANA, "I am bored")
    with pytest.raises(Refused):
        await engine.halt(Actor.agent("gonzo"), "self-halt")
    with pytest.raises(Refused, match="needs a reason"):
        await engine.halt(CHIEF, " ")
    state = await engine.halt(engine.actor("architect"), "maintenance window")
    assert state.active and state.actor == "@architect"
    assert (await engine.resume(CHIEF)).active is False


async def test_delegated_production_steps_are_refused_during_a_halt(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    await engine.halt(CHIEF, "RED ALERT: load 40")
    node.queue(Script(reply=plan_json(("nellie", "research it"), ("gonzo", "build it"))),
               Script(reply="facts"), Script(reply=plan_json()), Script(reply="summary"))
    events, record = await drain(await engine.reply("skip-h", "skip", "Research and build"))
    results = [e.result for e in events if isinstance(e, StepFinished)]
    assert [(r.agent, r.status) for r in results] == [("nellie", "complete"),
                                                      ("gonzo", "refused")]
    assert "RED ALERT: load 40" in (results[1].reason or "")
    assert record.status == "complete" and record.text == "summary"
    report = node.requests_to("/v1/chat/completions")[-1].body["messages"][-1]["content"]
    assert "refused" in report and "RED ALERT" in report


async def test_a_halt_from_another_process_cancels_calls_here(
    engine: TeamEngine, node: OpenAIStandin, settings: Settings
) -> None:
    node.queue(Script(reply="slow " * 400, chunk_chars=5, chunk_delay=0.02))
    handle = await engine.reply("chan-x", "cleo", "Restyle everything")
    await first_text(handle)
    other = await open_database(settings.ledger.database_url, settings.data_dir)
    try:
        remote = TaskBoard(other, engine.roster, engine.policy, HaltSwitch(other),
                           ManualChiefCheck())
        await remote.halt(Actor.agent("chief"), "halted from the CLI")
        _, record = await drain(handle)  # the engine's watcher polls every 0.05 s
        assert record.status == "halted" and "halted from the CLI" in (record.reason or "")
        await remote.resume(Actor.agent("chief"))
    finally:
        await other.close()


async def test_work_accepted_before_a_halt_waits_for_resume(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    node.queue(Script(reply=plan_json(("nellie", "research it"), ("gonzo", "build it"))),
               SLOW, Script(reply="built"), Script(reply=plan_json()), Script(reply="summary"))
    handle = await engine.reply("skip-w", "skip", "Research and build")
    await first_text(handle)  # Nellie's step is under way
    await engine.halt(CHIEF, "disk at 95% on the Mac Studio")
    waiting = (await _until_waiting(handle))[-1]
    assert isinstance(waiting, Waiting) and "gonzo waits for resume" in waiting.reason
    assert not handle.done
    await engine.resume(CHIEF, "disk cleaned")
    events, record = await drain(handle)
    results = [e.result for e in events if isinstance(e, StepFinished)]
    assert [(r.agent, r.status) for r in results][-1] == ("gonzo", "complete")
    assert record.status == "complete"
