"""The built-in ``homecrew`` tool server, called through the Toolbox like any MCP server:
read-only tools, the packaged grants, and the audit of each call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homecrew.builtin_tools import open_tools
from homecrew.settings import Settings
from inference.runtime import InferenceStack
from team.actors import Actor
from team.audit import list_entries
from team.engine import TeamEngine
from team.tools import DenyAll, Toolbox, ToolCall
from tests.support.standins import OpenAIStandin, Script
from tests.team.conftest import team_settings
from watch.gate_data import ManualChiefCheck


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[tuple[TeamEngine, Toolbox]]:
    async with OpenAIStandin(script=Script(reply="ok")) as node:
        settings: Settings = team_settings(node.base_url, tmp_path)
        async with InferenceStack.open(settings, probes=False) as stack, \
                TeamEngine.open(stack, settings.team, chief=ManualChiefCheck()) as engine, \
                open_tools(settings, stack, engine) as toolbox:
            assert await toolbox.servers.wait_up("homecrew", within=30)
            yield engine, toolbox


async def test_packaged_grants_offer_the_team_tools(
        team: tuple[TeamEngine, Toolbox]) -> None:
    _, toolbox = team
    chief = {s.name for s in toolbox.tools_for("chief")}
    assert chief == {"homecrew.checks", "homecrew.alerts", "homecrew.status"}
    assert all(s.read_only for s in toolbox.tools_for("chief"))
    assert {s.name for s in toolbox.tools_for("cleo")} == {"homecrew.status"}
    assert [str(g) for g in toolbox.skipped("nellie")] == ["fetch"]  # not configured
    assert toolbox.skipped("gonzo") == ()  # db? and postgres? are optional


async def test_status_and_tasks_through_the_toolbox(team: tuple[TeamEngine, Toolbox]) -> None:
    engine, toolbox = team
    task = await engine.board.create(Actor.person("ana"), kind="script", owner="jax",
                                     title="Write the backup runbook")
    status = await toolbox.call("cleo", ToolCall("homecrew.status", {}, "s1"), DenyAll())
    listed = await toolbox.call("skip", ToolCall("homecrew.task_list", {}), DenyAll())
    shown = await toolbox.call("skip", ToolCall("homecrew.task_show", {"task_id": task.id}),
                               DenyAll())
    assert status.outcome == "ok", status.content
    report = json.loads(status.content)
    assert report["halt"]["active"] is False
    assert report["tool_servers"]["homecrew"]["state"] == "up"
    assert [t["title"] for t in json.loads(listed.content)] == ["Write the backup runbook"]
    assert json.loads(shown.content)["task"]["owner"] == "jax"
    entries = [e for e in await list_entries(engine.board.db) if e.action == "tool_call"]
    assert [(e.actor, e.detail["tool"]) for e in entries] == [
        ("cleo", "status"), ("skip", "task_list"), ("skip", "task_show")]


async def test_chief_runs_the_watch_checks_and_nellie_may_not(
        team: tuple[TeamEngine, Toolbox]) -> None:
    _, toolbox = team
    checks = await toolbox.call("chief", ToolCall("homecrew.checks", {}), DenyAll())
    refused = await toolbox.call("nellie", ToolCall("homecrew.checks", {}), DenyAll())
    assert checks.outcome == "ok", checks.content
    assert all({"check", "status", "message"} <= set(c) for c in json.loads(checks.content))
    assert refused.outcome == "not_granted"
