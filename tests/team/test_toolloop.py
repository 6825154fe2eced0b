"""The tool loop through the real engine, chain and toolbox: a stand-in model that asks
for tools (OpenAI SSE) and the tiny stdio MCP server that runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homecrew.settings import Settings
from inference.runtime import InferenceStack
from personas.schema import Roster
from team.actors import Actor
from team.engine import TeamEngine
from team.events import ToolFinished, ToolStarted
from team.toolloop import DATA_NOTE, short_target
from team.tools import AutoApprove, McpServers, Toolbox
from tests.support.mcp_fixtures import tiny_server_config
from tests.support.standins import OpenAIStandin, Script, ScriptedCall
from tests.team.conftest import team_settings
from tests.team.helpers import chat_bodies, drain, texts
from tests.team.tools.test_toolbox import roster_with
from watch.gate_data import ManualChiefCheck


@pytest.fixture
def settings(node: OpenAIStandin, tmp_path: Path) -> Settings:
    return team_settings(node.base_url, tmp_path, tool_max_steps=2)


@pytest.fixture
async def tooled(engine: TeamEngine, settings: Settings, tmp_path: Path
                 ) -> AsyncIterator[TeamEngine]:
    roster: Roster = roster_with(nellie=("tiny",), chief=("tiny",))
    async with McpServers({"tiny": tiny_server_config(tmp_path / "notes.txt")}) as servers:
        assert await servers.wait_up(within=60)
        engine.use_tools(Toolbox(servers, roster, settings.team, db=engine.board.db,
                                 halt=engine.board.halt_switch, policy_version=1))
        yield engine


def tool_messages(body: dict[str, object]) -> list[dict[str, object]]:
    messages = body["messages"]
    assert isinstance(messages, list)
    return [m for m in messages if m["role"] == "tool"]


async def test_a_tool_round_trip(tooled: TeamEngine, node: OpenAIStandin) -> None:
    node.queue(Script.calling(ScriptedCall("tiny__echo", {"text": "hello @everyone"},
                                           id="call_1"), reply="Let me check."))
    node.script = Script(reply="The tool said hello.")
    events, record = await drain(await tooled.reply("c1", "nellie", "echo hello"))
    assert record.status == "complete"
    # what the user saw over both calls, as it is stored
    assert texts(events) == record.text == "Let me check.\n\nThe tool said hello."
    history = await tooled.history("c1")
    assert history[-1].content == record.text
    started = [e for e in events if isinstance(e, ToolStarted)]
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert started == [ToolStarted("nellie", "tiny", "echo", "hello @everyone")]
    assert started[0].line() == "🔧 tiny · hello @everyone …"
    assert [(f.outcome, f.call_id) for f in finished] == [("ok", "call_1")]
    first, second = chat_bodies(node)
    offered = {t["function"]["name"] for t in first["tools"]}
    assert "tiny__echo" in offered and "tiny__write_note" in offered
    assert DATA_NOTE in first["messages"][0]["content"]
    # the result goes back as a tool message, after the assistant's call
    assistant = second["messages"][-2]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert tool_messages(second) == [
        {"role": "tool", "tool_call_id": "call_1", "content": "hello @everyone"}]


async def test_unknown_tools_and_bad_arguments_go_back_as_errors(
    tooled: TeamEngine, node: OpenAIStandin
) -> None:
    node.queue(Script.calling(ScriptedCall("tiny__nope", {}, id="c_unknown"),
                              ScriptedCall("tiny__echo", '{"text": "unterminated', id="c_bad")))
    node.script = Script(reply="Sorry: I called a tool that does not exist, and garbled "
                               "the arguments of the other.")
    events, record = await drain(await tooled.reply("c2", "nellie", "try tools"))
    assert record.status == "complete" and record.text.startswith("Sorry")
    outcomes = [(e.tool, e.outcome) for e in events if isinstance(e, ToolFinished)]
    assert outcomes == [("tiny__nope", "unknown_tool"), ("echo", "bad_arguments")]
    unknown, bad = tool_messages(chat_bodies(node)[1])
    assert unknown["tool_call_id"] == "c_unknown"
    assert "there is no tool 'tiny__nope'" in str(unknown["content"])
    assert "tiny__echo" in str(unknown["content"])  # the model is told what exists
    assert bad["tool_call_id"] == "c_bad" and "not valid JSON" in str(bad["content"])


async def test_side_effect_tools_need_approval(
    tooled: TeamEngine, node: OpenAIStandin, tmp_path: Path
) -> None:
    call = ScriptedCall("tiny__write_note", {"text": "remember"}, id="c_w")
    node.queue(Script.calling(call), Script(reply="Denied."), Script.calling(call))
    node.script = Script(reply="Written.")
    events, _ = await drain(await tooled.reply("c3", "nellie", "note this"))
    assert [e.outcome for e in events if isinstance(e, ToolFinished)] == ["denied"]
    assert not (tmp_path / "notes.txt").exists()
    assert "was not approved" in str(tool_messages(chat_bodies(node)[1])[0]["content"])
    events, record = await drain(await tooled.reply("c4", "nellie", "note this",
                                                    approver=AutoApprove("ops")))
    assert [e.outcome for e in events if isinstance(e, ToolFinished)] == ["ok"]
    assert record.text == "Written."
    assert "remember" in (tmp_path / "notes.txt").read_text()


async def test_a_retry_runs_side_effect_tools_with_its_own_approver(
    tooled: TeamEngine, node: OpenAIStandin, tmp_path: Path
) -> None:
    call = ScriptedCall("tiny__write_note", {"text": "remember"}, id="c_r")
    node.queue(Script.calling(call), Script(reply="Denied."),
               Script.calling(call), Script(reply="Written."))
    events, _ = await drain(await tooled.reply("c7", "nellie", "note this"))
    assert [e.outcome for e in events if isinstance(e, ToolFinished)] == ["denied"]
    events, record = await drain(await tooled.retry("c7", approver=AutoApprove("ops")))
    assert [e.outcome for e in events if isinstance(e, ToolFinished)] == ["ok"]
    assert record.text == "Written."
    assert "remember" in (tmp_path / "notes.txt").read_text()


async def test_the_step_limit_ends_with_an_answer_without_tools(
    tooled: TeamEngine, node: OpenAIStandin
) -> None:
    node.script = Script.calling(ScriptedCall("tiny__pid", {}))  # it never stops asking
    node.queue(*[Script.calling(ScriptedCall("tiny__pid", {})) for _ in range(2)],
               Script(reply="I ran out of tool steps; here is what I have."))
    events, record = await drain(await tooled.reply("c5", "nellie", "loop forever"))
    assert record.status == "complete"
    assert record.text == "I ran out of tool steps; here is what I have."
    assert len([e for e in events if isinstance(e, ToolFinished)]) == 2  # tool_max_steps
    bodies = chat_bodies(node)
    assert len(bodies) == 3
    assert "tools" not in bodies[2]
    assert "tool step limit (2) is reached" in bodies[2]["messages"][-1]["content"]


async def test_agents_without_grants_only_talk(tooled: TeamEngine, node: OpenAIStandin) -> None:
    _, record = await drain(await tooled.reply("c6", "jax", "a haiku please"))
    assert record.status == "complete"
    assert "tools" not in chat_bodies(node)[0]


def test_short_targets() -> None:
    assert short_target({"url": "https://docs.example.org/a/b?q=1"}) == "docs.example.org"
    assert short_target({"repo_path": "/srv/homelab/"}) == "homelab"
    assert short_target({"query": "x" * 80}) == "x" * 39 + "…"
    assert short_target({"n": 3}) == ""


async def test_no_toolbox_no_tools(stack: InferenceStack, settings: Settings,
                                   chief: ManualChiefCheck, node: OpenAIStandin) -> None:
    async with TeamEngine.open(stack, settings.team, chief=chief) as engine:
        _, record = await drain(await engine.reply("c7", "nellie", "hi"))
    assert record.status == "complete" and "tools" not in chat_bodies(node)[0]


async def test_during_a_halt_side_effect_tools_are_refused_and_read_only_ones_run(
    tooled: TeamEngine, node: OpenAIStandin, tmp_path: Path
) -> None:
    """Chief (operations) keeps working through a halt, to diagnose: read-only tools run,
    side-effect tools are refused even with approval."""
    await tooled.halt(Actor.agent("chief"), "disk at 95%")
    node.queue(Script.calling(ScriptedCall("tiny__pid", {}, id="c_pid"),
                              ScriptedCall("tiny__write_note", {"text": "x"}, id="c_note")))
    node.script = Script(reply="I can read but not write during the halt.")
    events, record = await drain(await tooled.reply("c8", "chief", "diagnose",
                                                    approver=AutoApprove("ops")))
    assert record.status == "complete"
    assert [(e.tool, e.outcome) for e in events if isinstance(e, ToolFinished)] == [
        ("pid", "ok"), ("write_note", "halted")]
    assert not (tmp_path / "notes.txt").exists()
    pid, note = tool_messages(chat_bodies(node)[1])
    assert str(pid["content"]).isdigit()
    assert "refused during the halt" in str(note["content"])
