"""Agents' tools in Discord, end to end: the real bot on the Discord stand-in, a stand-in
model node that answers with tool calls, and real MCP servers (``mcp-server-fetch`` on a
loopback page, the tiny stdio server for a side effect and an ``@everyone``)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from team.audit import list_entries
from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import SentMessage, StoredInteraction
from tests.support.discord_standin.events import FollowUp, InteractionResponse, MessageEdit
from tests.support.discord_standin.message_payloads import resolve_pings
from tests.support.mcp_fixtures import PAGE_TEXT, VENV_BIN, loopback_page, tiny_server_config
from tests.support.standins import Script, ScriptedCall
from tests.test_support_paths import REPO

pytestmark = pytest.mark.timeout(120)


def _personas(tmp_path: Path) -> Path:
    """The packaged team, Nellie also granted the tiny server."""
    folder = tmp_path / "personas"
    folder.mkdir()
    for file in (REPO / "personas").glob("*.yaml"):
        if file.name != "rules.yaml":
            shutil.copy(file, folder / file.name)
    nellie = folder / "nellie.yaml"
    nellie.write_text(nellie.read_text().replace("tools: [fetch, homecrew.status]",
                                                 "tools: [fetch, tiny, homecrew.status]"))
    return folder


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[BotWorld, str]]:
    servers: dict[str, Any] = {
        "fetch": {"command": str(VENV_BIN / "mcp-server-fetch"), "args": ["--allow-private-ips"]},
        "tiny": tiny_server_config(tmp_path / "notes.txt"),
    }
    options = WorldOptions(
        extra={"mcp_servers": servers},
        team={"personas_dir": str(_personas(tmp_path)), "tool_approval_timeout": 20})
    async with loopback_page() as url, homecrew_world(tmp_path / "data", options) as world:
        toolbox = world.ctx.toolbox
        assert toolbox is not None
        assert await toolbox.servers.wait_up(within=60)
        yield world, url


def _tool_messages(world: BotWorld, index: int) -> list[dict[str, Any]]:
    body = world.node("nellie").requests_to("/v1/chat/completions")[index].body
    return [m for m in body["messages"] if m["role"] == "tool"]


def _button(message: SentMessage, label: str) -> str:
    for row in message.components:
        for item in row["components"]:
            if item.get("label") == label:
                return str(item["custom_id"])
    raise AssertionError(f"no {label!r} button on {message.content!r}")


async def _approval(world: BotWorld) -> SentMessage:
    return await world.discord.wait_for_event(SentMessage, lambda m: bool(m.components))


async def _private(world: BotWorld, click: StoredInteraction) -> str:
    answer = await world.discord.wait_for_event(
        InteractionResponse, lambda r: r.interaction_id == click.id)
    assert answer.ephemeral
    return str(answer.data["content"])


async def test_nellie_fetches_a_page_and_cites_it(world: tuple[BotWorld, str]) -> None:
    bot_world, url = world
    node = bot_world.node("nellie")
    node.queue(Script.calling(ScriptedCall("fetch__fetch", {"url": url}, id="call_f")))
    node.script = Script(reply=f"The disk is 42% full.\n\nSources:\n- {url}")
    replies = await bot_world.converse("nellie", "how full is the homelab's disk?")
    # while the tool ran, the reply showed one line naming it and the host
    shown = bot_world.discord.events(SentMessage) + bot_world.discord.events(MessageEdit)
    assert any(e.content == "🔧 fetch · 127.0.0.1 …" for e in shown), [e.content for e in shown]
    final = replies[-1]
    assert final.author_name == "Nellie"
    assert final.content == f"The disk is 42% full.\n\nSources:\n- {url}"
    assert "🔧" not in bot_world.text("nellie")
    # the page was really fetched, and went back to the model as a tool result
    (result,) = _tool_messages(bot_world, 1)
    assert result["tool_call_id"] == "call_f" and PAGE_TEXT in result["content"]
    # her prompt asks for the fetched URLs, and only those, as sources
    assert 'a "Sources:" list of the URLs you actually fetched' in bot_world.prompt("nellie", 0)


async def test_a_side_effect_tool_waits_for_an_admin(
    world: tuple[BotWorld, str], tmp_path: Path
) -> None:
    bot_world, _ = world
    discord = bot_world.discord
    node = bot_world.node("nellie")
    secret = discord.token  # a secret in the arguments is masked in the question
    note = f"disk at 42% key={secret}"
    node.queue(Script.calling(ScriptedCall("tiny__write_note", {"text": note}, id="call_w")))
    node.script = Script(reply="Noted it.")
    asked = await discord.user_message("nellie", "alice", "note the disk level")
    ask = await _approval(bot_world)
    assert "**Nellie** wants to run `tiny.write_note`" in ask.content
    assert '"text": "disk at 42% key=[redacted]"' in ask.content
    assert secret not in ask.content
    assert ask.allowed_mentions == {"parse": []}
    assert not (tmp_path / "notes.txt").exists()

    refused = await discord.click_button(ask.message_id, _button(ask, "Approve"), "alice")
    assert (await _private(bot_world, refused)).startswith("Only members with the admin role")
    assert not (tmp_path / "notes.txt").exists()

    await discord.click_button(ask.message_id, _button(ask, "Approve"), "bob")
    await bot_world.settled(asked)
    assert (tmp_path / "notes.txt").read_text() == note + "\n"
    decided = discord.message(ask.message_id)
    assert decided.content.endswith("✅ approved by @bob") and not decided.components
    assert secret not in decided.content
    assert bot_world.answers("nellie", after=asked.id)[-1].content == "Noted it."
    (result,) = _tool_messages(bot_world, 1)
    assert result["content"] == "noted: disk at 42% key=[redacted]"
    calls = [e for e in await list_entries(bot_world.ctx.engine.board.db)
             if e.action == "tool_call"]
    assert [(e.detail["tool"], e.detail["approved_by"]) for e in calls] == [("write_note", "@bob")]


async def test_no_answer_in_time_denies_and_the_model_is_told(
    tmp_path: Path
) -> None:
    options = WorldOptions(
        extra={"mcp_servers": {"tiny": tiny_server_config(tmp_path / "notes.txt")}},
        team={"personas_dir": str(_personas(tmp_path)), "tool_approval_timeout": 0.5})
    async with homecrew_world(tmp_path / "data", options) as bot_world:
        toolbox = bot_world.ctx.toolbox
        assert toolbox is not None and await toolbox.servers.wait_up("tiny", within=60)
        node = bot_world.node("nellie")
        node.queue(Script.calling(ScriptedCall("tiny__write_note", {"text": "x"}, id="c")))
        node.script = Script(reply="I was not allowed to write the note.")
        replies = await bot_world.converse("nellie", "note x")
        ask = next(m for m in bot_world.discord.events(SentMessage) if m.components)
        await bot_world.discord.wait_until(
            lambda: "no answer within 0.5 s: denied" in bot_world.discord.message(
                ask.message_id).content)
        assert not bot_world.discord.message(ask.message_id).components
        assert replies[-1].content == "I was not allowed to write the note."
        assert not (tmp_path / "notes.txt").exists()
        (result,) = _tool_messages(bot_world, 1)
        assert "not approved" in result["content"] and "no answer within" in result["content"]


async def test_an_everyone_in_a_tool_result_pings_nobody(world: tuple[BotWorld, str]) -> None:
    bot_world, _ = world
    node = bot_world.node("nellie")
    node.queue(Script.calling(ScriptedCall("tiny__echo", {"text": "@everyone look"}, id="e")))
    node.script = Script(answer=lambda last: f"The tool said: {last}")
    replies = await bot_world.converse("nellie", "echo something loud")
    assert replies[-1].content == "The tool said: @everyone look"
    state = bot_world.discord.state
    for sent in bot_world.discord.events(SentMessage):
        stored = state.store.get(sent.message_id)
        assert stored.allowed_mentions is not None and stored.allowed_mentions["parse"] == []
        assert not resolve_pings(stored, state.store, state.world).everyone


async def test_slash_tools_lists_agents_tools_and_servers(world: tuple[BotWorld, str]) -> None:
    bot_world, _ = world
    asked = await bot_world.discord.slash_command("tools", {}, "alice", "nellie")
    answer = await bot_world.discord.wait_for_event(
        InteractionResponse, lambda r: r.interaction_id == asked.id)
    assert answer.ephemeral
    (embed,) = answer.data["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    nellie = fields["Nellie"]
    assert "🟢 fetch: up" in nellie and "🟢 tiny: up" in nellie and "🟢 homecrew: up" in nellie
    assert "`fetch.fetch`" in nellie and "`tiny.write_note` ✋" in nellie
    assert "`homecrew.checks`" in fields["Chief"]
    assert not bot_world.discord.events(FollowUp)


async def test_a_server_that_never_starts_does_not_hold_the_bot_up(tmp_path: Path) -> None:
    personas = _personas(tmp_path)
    nellie = personas / "nellie.yaml"
    nellie.write_text(nellie.read_text().replace("tools: [fetch, tiny, homecrew.status]",
                                                 "tools: [slow, homecrew.status]"))
    options = WorldOptions(  # a stdio "server" that never answers the MCP handshake
        extra={"mcp_servers": {"slow": {"command": "/bin/sleep", "args": ["3600"]}}},
        team={"personas_dir": str(personas)})
    async with homecrew_world(tmp_path / "data", options) as bot_world:  # ready: started
        replies = await bot_world.converse("nellie", "still there?")
        assert replies[-1].content == "Nellie here: all good."
        asked = await bot_world.discord.slash_command("tools", {}, "alice", "nellie")
        answer = await bot_world.discord.wait_for_event(
            InteractionResponse, lambda r: r.interaction_id == asked.id)
        fields = {f["name"]: f["value"] for f in answer.data["embeds"][0]["fields"]}
        # starting (or, on a very slow machine, down after its start-up time): never up
        assert "🟡 slow: starting" in fields["Nellie"] or "🔴 slow: down" in fields["Nellie"]
