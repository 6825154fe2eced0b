"""Gates surface on their own: a task changed anywhere (the CLI, a click) shows as one live
gate message in its owner's channel, edited on every change, buttons gone when no gate
remains; kept across restarts, posted anew when deleted, never stopped by failures."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.gate_feed import GateMessages, PostedGate
from homecrew.cli import main
from store import open_database
from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import MessageEdit, SentMessage, StoredMessage
from tests.support.discord_standin.world import SEND_MESSAGES

pytestmark = pytest.mark.timeout(90)

FAST = WorldOptions(team={"task_feed_interval": 0.05})
CONTRACT_BUTTONS = {"Approve (Gonzo · contract)", "Request changes (Gonzo · contract)",
                    "Approve (Cleo · contract)", "Request changes (Cleo · contract)",
                    "Override"}


@pytest.fixture
def database_url(store_url: str | None) -> str | None:
    return store_url


def _buttons(components: list[dict[str, Any]]) -> dict[str, str]:
    """label -> custom_id of every button in a message."""
    return {str(item["label"]): str(item["custom_id"])
            for row in components for item in row.get("components", [])}


def _fields(message: StoredMessage) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


def _cli_config(world: BotWorld, tmp_path: Path) -> Path:
    """A config file for the CLI: the bot's nodes, routes and (same) database."""
    dumped = world.settings.model_dump(mode="json", exclude_none=True)
    keep = {k: dumped[k] for k in ("nodes", "models", "routes", "data_dir", "ledger", "team")}
    path = tmp_path / "cli.yaml"
    path.write_text(yaml.safe_dump(keep), encoding="utf-8")
    return path


async def _cli(config: Path, *argv: str) -> int:
    """``homecrew task …`` as another process would run it (its own loop and connection)."""
    return await asyncio.to_thread(main, ["task", argv[0], "--config", str(config), *argv[1:]])


def _gates_in(world: BotWorld, channel: str) -> list[SentMessage]:
    """The gate cards the bot posted in ``channel`` (not replies, not /task show)."""
    return [m for m in world.discord.sent_messages(channel)
            if m.embeds and str(m.embeds[0].get("title", "")).startswith("Task #")
            and m.interaction_id is None]


async def _edited(world: BotWorld, message_id: int, condition: str, *, since: int) -> None:
    """Until an edit of ``message_id`` (after mark ``since``) shows ``condition`` in a field."""
    def shows(edit: MessageEdit) -> bool:
        return edit.message_id == message_id and any(
            condition in f"{f['name']}: {f['value']}" for e in edit.embeds
            for f in e.get("fields", []))

    await world.discord.wait_for_event(MessageEdit, shows, since=since, timeout=10)


async def test_a_task_from_the_cli_gets_one_live_gate_message(tmp_path: Path) -> None:
    async with homecrew_world(tmp_path, FAST) as world:
        discord = world.discord
        config = _cli_config(world, tmp_path)
        contract = tmp_path / "contract.json"
        contract.write_text(json.dumps({"name": "string"}), encoding="utf-8")

        assert await _cli(config, "new", "--kind", "feature", "--owner", "gonzo",
                          "Model switcher") == 0
        posted = await discord.wait_for_event(
            SentMessage, lambda m: m.channel_id == discord.channel_id("gonzo") and bool(
                m.embeds), timeout=10)
        gate = discord.message(posted.message_id)
        assert gate.embeds[0]["title"] == "Task #1 — Model switcher"
        assert set(_buttons(gate.components)) == CONTRACT_BUTTONS
        assert posted.allowed_mentions is not None and posted.allowed_mentions["parse"] == []

        mark = discord.mark()
        assert await _cli(config, "attach", "1", "--kind", "contract", str(contract)) == 0
        await _edited(world, gate.id, "Artifacts: contract v1", since=mark)

        mark = discord.mark()
        click = await discord.click_button(gate.id, _buttons(gate.components)[
            "Approve (Gonzo · contract)"], "bob")
        await discord.wait_for_response(click)
        await _edited(world, gate.id, "gonzo · contract · approve", since=mark)
        await discord.wait_until(lambda: "Approve (Gonzo · contract)" not in _buttons(
            discord.message(gate.id).components))
        assert "Approve (Cleo · contract)" in _buttons(discord.message(gate.id).components)

        mark = discord.mark()
        assert await _cli(config, "signoff", "1", "--agent", "cleo", "--topic", "contract",
                          "--as", "cleo") == 0
        await _edited(world, gate.id, "every requirement is met", since=mark)
        assert discord.message(gate.id).components == []  # no gate left to decide

        mark = discord.mark()
        assert await _cli(config, "move", "1", "implementation") == 0
        await _edited(world, gate.id, "State: implementation", since=mark)
        assert discord.message(gate.id).components == []  # review is not gated

        mark = discord.mark()
        assert await _cli(config, "move", "1", "review") == 0
        await _edited(world, gate.id, "State: review", since=mark)
        assert {"Approve (Gonzo · security)", "Approve (Cleo · responsiveness)"} <= set(
            _buttons(discord.message(gate.id).components))  # the shipping gate's

        mark = discord.mark()
        assert await _cli(config, "move", "1", "cancelled") == 0
        await _edited(world, gate.id, "State: cancelled", since=mark)
        assert discord.message(gate.id).components == []
        assert [m.message_id for m in _gates_in(world, "gonzo")] == [gate.id]


async def test_a_restart_edits_catches_up_and_a_deleted_gate_is_posted_anew(
    tmp_path: Path, database_url: str | None,
) -> None:
    options = WorldOptions(database_url=database_url, team={"task_feed_interval": 0.05})
    async with homecrew_world(tmp_path, options) as world:
        discord = world.discord
        config = _cli_config(world, tmp_path)
        engine = world.ctx.engine
        task = await engine.board.create(engine.actor("architect"), kind="research",
                                         owner="nellie", title="MLX vs llama.cpp")
        first = await discord.wait_for_event(
            SentMessage, lambda m: m.channel_id == discord.channel_id("nellie") and bool(
                m.embeds), timeout=10)

        await world.stop()  # changed while the bot is away: caught up after the restart
        assert await _cli(config, "attach", str(task.id), "--kind", "report",
                          str(config)) == 0
        mark = discord.mark()
        await world.start()
        await _edited(world, first.message_id, "Artifacts: report v1", since=mark)
        assert [m.message_id for m in _gates_in(world, "nellie")] == [first.message_id]

        await discord.user_delete(first.message_id)  # someone deleted the card
        assert await _cli(config, "attach", str(task.id), "--kind", "report",
                          str(config)) == 0
        again = await discord.wait_for_event(
            SentMessage, lambda m: m.channel_id == discord.channel_id("nellie")
            and m.message_id != first.message_id and bool(m.embeds), timeout=10)
        assert "report v2" in _fields(discord.message(again.message_id))["Artifacts"]

        mark = discord.mark()
        assert await _cli(config, "move", str(task.id), "cancelled") == 0
        await _edited(world, again.message_id, "State: cancelled", since=mark)
        assert len(_gates_in(world, "nellie")) == 2


async def test_a_refused_post_is_logged_and_the_feed_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    async with homecrew_world(tmp_path, FAST) as world:
        discord = world.discord
        engine = world.ctx.engine
        architect = engine.actor("architect")
        roles = discord.state.world.roles.values()
        saved = {role.id: role.permissions for role in roles}
        for role in roles:
            role.permissions &= ~SEND_MESSAGES
        with caplog.at_level(logging.WARNING, logger="bot.gate_feed"):
            refused = await engine.board.create(architect, kind="script", owner="jax",
                                                title="Homelab tour")
            await discord.wait_until(lambda: "cannot show the gate of task #1" in caplog.text,
                                     timeout=10)
        assert "Forbidden" in caplog.text and not _gates_in(world, "jax")
        for role in roles:
            role.permissions = saved[role.id]

        later = await engine.board.create(architect, kind="script", owner="jax",
                                          title="Rack tour")
        shown = await discord.wait_for_event(
            SentMessage, lambda m: m.channel_id == discord.channel_id("jax") and bool(
                m.embeds), timeout=10)
        assert shown.embeds[0]["title"] == f"Task #{later.id} — Rack tour"
        assert world.bot.gate_feed.running and refused.id != later.id


async def test_the_gate_table_keeps_snowflakes_and_the_cursor(
    database_url: str | None, tmp_path: Path,
) -> None:
    db = await open_database(database_url, tmp_path)
    try:
        messages = GateMessages(db)
        assert await messages.migrate() == 1
        assert await messages.migrate() == 0
        big = 1_234_567_890_123_456_789  # snowflakes need 64 bits
        assert await messages.get(7, big) is None and await messages.cursor() is None
        await messages.put(7, big, PostedGate(big + 1, big + 2))
        await messages.put(7, big, PostedGate(big + 3, big + 4))
        assert await messages.get(7, big) == PostedGate(big + 3, big + 4)
        await messages.save_cursor(41)
        await messages.save_cursor(42)
        assert await messages.cursor() == 42
    finally:
        await db.close()
