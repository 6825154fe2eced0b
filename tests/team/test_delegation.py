"""Skip's delegation through the real chain: JSON plans, retries, keyword fallback, bounds."""

from __future__ import annotations

import json
from pathlib import Path

from inference.runtime import InferenceStack
from personas import load_roster
from team.delegation import keyword_plan, parse_plan
from team.engine import TeamEngine
from team.events import PlanReady, StepFinished, StepStarted
from tests.support.standins import OpenAIStandin, Script
from watch.gate_data import ManualChiefCheck

from .conftest import team_settings
from .helpers import chat_bodies, drain, plan_json, system_of, texts

REQUEST = "Research MLX and design the database schema for our benchmark results"


async def test_valid_json_plan_runs_specialists_in_order_and_reports_back(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    node.queue(
        Script(reply=plan_json(("nellie", "Summarise MLX"), ("gonzo", "Design the schema"))),
        Script(reply="MLX is Apple's array framework."),
        Script(reply="CREATE TABLE results (id bigint primary key)"),
        Script(reply=plan_json()),  # round 2: nothing more to do
        Script(reply="Here is the combined answer, y'all."),
    )
    events, record = await drain(await engine.reply("skip-1", "skip", REQUEST, author="ana"))
    plans = [e for e in events if isinstance(e, PlanReady)]
    assert [(p.round, p.source) for p in plans] == [(1, "model"), (2, "model")]
    assert [(e.agent, e.task) for e in events if isinstance(e, StepStarted)] == [
        ("nellie", "Summarise MLX"), ("gonzo", "Design the schema")]
    finished = [e.result for e in events if isinstance(e, StepFinished)]
    assert [(r.agent, r.status, r.text) for r in finished] == [
        ("nellie", "complete", "MLX is Apple's array framework."),
        ("gonzo", "complete", "CREATE TABLE results (id bigint primary key)")]
    assert record.status == "complete" and texts(events) == "Here is the combined answer, y'all."
    assert [s.agent for s in record.steps] == ["nellie", "gonzo"] and len(record.calls) == 5

    bodies = chat_bodies(node)
    plan_body = bodies[0]
    schema = plan_body["response_format"]["json_schema"]["schema"]
    assert plan_body["response_format"]["type"] == "json_schema"
    assert schema["properties"]["steps"]["items"]["properties"]["agent"]["enum"] == [
        "nellie", "chief", "gonzo", "cleo", "jax"]
    assert "Skip — Director of Operations" in system_of(plan_body)
    assert "Nellie — Research Specialist" in system_of(bodies[1])
    assert "Gonzo — Database Architect" in system_of(bodies[2])
    assert "MLX is Apple's array framework." in bodies[2]["messages"][-1]["content"]
    report = bodies[4]["messages"][-1]["content"]
    assert "MLX is Apple's array framework." in report and "CREATE TABLE results" in report
    history = await engine.history("skip-1")
    assert [(m.role, m.agent) for m in history] == [
        ("user", "skip"), ("agent", "nellie"), ("agent", "gonzo"), ("agent", "skip")]


async def test_broken_json_twice_falls_back_to_keywords(
    engine: TeamEngine, node: OpenAIStandin
) -> None:
    node.queue(
        Script(reply="Sure! I'd send Nellie first {\"steps\": [oops"),
        Script(reply="```json\n{\"steps\": [{\"agent\": \"nellie\"}]}\n```"),
        Script(reply="research notes"),
        Script(reply="schema notes"),
        Script(reply="combined"),
    )
    events, record = await drain(await engine.reply("skip-2", "skip", REQUEST))
    plans = [e for e in events if isinstance(e, PlanReady)]
    assert len(plans) == 1 and plans[0].source == "keywords"
    assert len(plans[0].errors) == 2
    assert [s.agent for s in plans[0].plan.steps] == ["nellie", "gonzo"]
    assert [s.agent for s in record.steps] == ["nellie", "gonzo"]
    assert record.status == "complete" and record.text == "combined"
    retry_messages = chat_bodies(node)[1]["messages"]
    assert retry_messages[-1]["role"] == "user" and "not valid" in retry_messages[-1]["content"]
    assert len(chat_bodies(node)) == 5  # no second planning round after a fallback


async def test_one_bad_plan_then_a_valid_retry(engine: TeamEngine, node: OpenAIStandin) -> None:
    node.queue(
        Script(reply=plan_json(("skip", "do it all myself"))),  # Skip is no specialist
        Script(reply=plan_json(("cleo", "Sketch the results page"))),
        Script(reply="a clean layout"),
        Script(reply=plan_json()),
        Script(reply="done"),
    )
    events, record = await drain(await engine.reply("skip-3", "skip", "Build a results page"))
    first = next(e for e in events if isinstance(e, PlanReady))
    assert first.source == "model_retry" and "not a specialist: skip" in first.errors[0]
    assert [s.agent for s in record.steps] == ["cleo"]


async def test_no_steps_means_skip_answers_himself(engine: TeamEngine, node: OpenAIStandin
                                                   ) -> None:
    node.queue(Script(reply=plan_json(note="simple")), Script(reply="Howdy, partner."))
    events, record = await drain(await engine.reply("skip-4", "skip", "Say hello"))
    assert record.text == "Howdy, partner." and not record.steps
    assert not [e for e in events if isinstance(e, StepStarted)]
    assert chat_bodies(node)[1]["messages"][-1]["content"] == "user: Say hello"


async def test_steps_and_rounds_are_bounded(node: OpenAIStandin, tmp_path: Path) -> None:
    settings = team_settings(node.base_url, tmp_path, plan_max_steps=3, plan_max_rounds=2)
    many = plan_json(*[("jax", f"scene {i}") for i in range(5)])
    node.queue(
        Script(reply=many), Script(reply=many),  # too many steps, twice → keywords
    )
    node.script = Script(reply=plan_json(("nellie", "again"), ("nellie", "and again")))
    async with InferenceStack.open(settings, probes=False) as stack, \
            TeamEngine.open(stack, settings.team, chief=ManualChiefCheck()) as engine:
        events, record = await drain(await engine.reply("b", "skip", "video script storyboard"))
        assert [p.source for p in events if isinstance(p, PlanReady)] == ["keywords"]
        assert [s.agent for s in record.steps] == ["jax"]
        node.queue(Script(reply=plan_json(("nellie", "one"), ("chief", "two"))))
        # every later plan asks for two more steps: only one fits the budget of three
        events, record = await drain(await engine.reply("b2", "skip", "anything"))
    rounds = [p for p in events if isinstance(p, PlanReady)]
    assert [p.round for p in rounds] == [1]  # round two's plan exceeded the budget left
    assert len(record.steps) == 2 and record.status == "complete"


def test_keyword_plan_is_deterministic() -> None:
    roster = load_roster()
    plan = keyword_plan("Is our Prometheus alert on disk accurate? Check the sources", roster, 4)
    assert [s.agent for s in plan.steps] == ["chief", "nellie"]
    assert keyword_plan("hello there", roster, 4).steps == ()
    assert len(keyword_plan("video database css research alert", roster, 2).steps) == 2


def test_parse_plan_rejects_what_it_must() -> None:
    names = ["nellie", "gonzo"]
    assert parse_plan(json.loads(plan_json(("Nellie", " x "))), names, 2).steps[0].agent == "nellie"
    for bad in ({"steps": [{"agent": "gonzo"}]}, {"steps": "all"},
                {"steps": [{"agent": "nellie", "task": "a"}] * 3},
                {"steps": [], "extra": 1}):
        try:
            parse_plan(bad, names, 2)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")
