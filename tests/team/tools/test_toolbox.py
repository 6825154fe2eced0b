"""Toolbox.call end to end over the tiny stdio server: grants, approval (auto, deny,
timeout), the halt, redaction and truncation, and the audit chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inference.store import Database
from personas.loader import load_roster
from personas.schema import Roster
from team.audit import list_entries, verify_chain
from team.config import TeamSettings
from team.halt import HaltSwitch
from team.redaction import MASK, Redactor
from team.store import team_transaction
from team.tools import (
    ApprovalDecision,
    ApprovalRequest,
    AutoApprove,
    DenyAll,
    McpServers,
    Toolbox,
    ToolCall,
)
from team.tools.model import arguments_hash, text_hash
from tests.support.mcp_fixtures import team_db, tiny_server_config

SECRET = "sk-ant-api03-supersecretvalue"


def roster_with(**tools: tuple[str, ...]) -> Roster:
    base = load_roster()
    return Roster(personas=tuple(p.model_copy(update={"tools": tools.get(p.name, p.tools)})
                                 for p in base))


class NeverAnswers:
    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def approve(self, request: ApprovalRequest) -> ApprovalDecision:
        self.asked.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@dataclass
class Kit:
    toolbox: Toolbox
    db: Database
    halt: HaltSwitch
    notes: Path


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[Kit]:
    notes = tmp_path / "notes.txt"
    roster = roster_with(nellie=("tiny", "homecrew.status"), jax=("tiny.echo",))
    settings = TeamSettings(tool_max_chars=200, tool_approval_timeout=0.2)
    async with team_db(tmp_path) as (db, halt), \
            McpServers({"tiny": tiny_server_config(notes)}) as servers:
        assert await servers.wait_up(within=60)
        yield Kit(Toolbox(servers, roster, settings, db=db, halt=halt, policy_version=1,
                          redactor=Redactor([SECRET])), db, halt, notes)


async def test_granted_tools_are_offered_and_ungranted_refused(kit: Kit) -> None:
    names = {s.name for s in kit.toolbox.tools_for("nellie")}
    assert names == {"tiny.env", "tiny.echo", "tiny.hang", "tiny.header", "tiny.pid",
                     "tiny.write_note"}
    assert [s.name for s in kit.toolbox.tools_for("jax")] == ["tiny.echo"]
    refused = await kit.toolbox.call("jax", ToolCall("tiny.env", {}, "c1"), DenyAll())
    assert refused.outcome == "not_granted" and refused.is_error
    assert [g.server for g in kit.toolbox.skipped("nellie")] == ["homecrew"]


async def test_overview_shows_each_agents_tools_and_servers(kit: Kit) -> None:
    by_agent = {a.agent: a for a in kit.toolbox.overview()}
    nellie, jax, cleo = by_agent["nellie"], by_agent["jax"], by_agent["cleo"]
    assert [(s.name, s.state) for s in nellie.servers] == [("tiny", "up")]
    assert [str(g) for g in nellie.skipped] == ["homecrew.status"]
    assert [t.name for t in jax.tools] == ["tiny.echo"]
    assert cleo.tools == () and [str(g) for g in cleo.skipped] == ["homecrew.status"]


async def test_unknown_tool_says_what_exists(kit: Kit) -> None:
    result = await kit.toolbox.call("nellie", ToolCall("tiny.nope", {}), DenyAll())
    assert result.outcome == "unknown_tool" and "echo" in result.content


async def test_side_effect_tool_runs_only_when_approved(kit: Kit) -> None:
    call = ToolCall("tiny.write_note", {"text": "hello"}, "c2")
    denied = await kit.toolbox.call("nellie", call, DenyAll())
    assert denied.outcome == "denied" and not kit.notes.exists()
    done = await kit.toolbox.call("nellie", call, AutoApprove(by="ana"))
    assert done.outcome == "ok" and done.approved_by == "ana"
    assert kit.notes.read_text() == "hello\n"


async def test_approval_timeout_counts_as_deny(kit: Kit) -> None:
    approver = NeverAnswers()
    result = await kit.toolbox.call("nellie", ToolCall("tiny.write_note", {"text": "x"}),
                                    approver)
    assert approver.asked.is_set()
    assert result.outcome == "denied" and "no answer within" in result.content
    assert not kit.notes.exists()


async def test_halt_refuses_side_effects_but_runs_read_only(kit: Kit) -> None:
    async with team_transaction(kit.db) as tx:  # another process halts
        await kit.halt.store(tx, active=True, reason="disk full", actor="chief", ts=1.0)
    refused = await kit.toolbox.call("nellie", ToolCall("tiny.write_note", {"text": "x"}),
                                     AutoApprove(by="ana"))
    assert refused.outcome == "halted" and "disk full" in refused.content
    assert not kit.notes.exists()
    read = await kit.toolbox.call("nellie", ToolCall("tiny.echo", {"text": "still here"}),
                                  DenyAll())
    assert read.outcome == "ok" and read.content == "still here"


async def test_secret_is_redacted_and_mentions_pass_as_data(kit: Kit) -> None:
    text = f"@everyone the key is {SECRET} <@&123>"
    result = await kit.toolbox.call("nellie", ToolCall("tiny.echo", {"text": text}),
                                    DenyAll())
    assert SECRET not in result.content and MASK in result.content
    # Mentions are the bot's concern (it posts with mentions disabled): here they are data.
    assert result.content.startswith("@everyone") and "<@&123>" in result.content


async def test_long_output_is_truncated_with_a_marker(kit: Kit) -> None:
    result = await kit.toolbox.call("nellie", ToolCall("tiny.echo", {"text": "a" * 1000}),
                                    DenyAll())
    assert result.truncated and result.content.startswith("a" * 200)
    assert "truncated: 200 of 1000 characters shown" in result.content


async def test_every_call_is_audited_and_the_chain_verifies(kit: Kit) -> None:
    echo = ToolCall("tiny.echo", {"text": "hi"}, "c9")
    await kit.toolbox.call("nellie", echo, DenyAll())
    await kit.toolbox.call("nellie", ToolCall("tiny.write_note", {"text": "n"}), DenyAll())
    await kit.toolbox.call("nellie", ToolCall("tiny.write_note", {"text": "n"}),
                           AutoApprove(by="ana"))
    await kit.toolbox.call("jax", ToolCall("tiny.env", {}), DenyAll())
    entries = [e for e in await list_entries(kit.db) if e.action == "tool_call"]
    assert [(e.actor, e.detail["tool"], e.detail["outcome"], e.detail["approved_by"])
            for e in entries] == [
        ("nellie", "echo", "ok", ""), ("nellie", "write_note", "denied", ""),
        ("nellie", "write_note", "ok", "ana"), ("jax", "env", "not_granted", ""),
    ]
    first = entries[0].detail
    assert first["server"] == "tiny"
    assert first["arguments_sha256"] == arguments_hash({"text": "hi"})
    assert first["result_sha256"] == text_hash("hi")
    report = await verify_chain(kit.db)
    assert report.ok and report.entries == len(entries)
