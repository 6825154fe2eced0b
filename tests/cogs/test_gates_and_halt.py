"""Gates as buttons (Approve / Request changes / Override) decided by the task board, and
/halt and /resume for admins only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.bot_harness import BotWorld
from tests.support.discord_standin import FollowUp, MessageEdit, SentMessage, StoredInteraction
from tests.support.standins import Script

pytestmark = pytest.mark.timeout(60)


def _buttons(components: list[dict[str, Any]]) -> dict[str, str]:
    """label -> custom_id of every button in a message."""
    found: dict[str, str] = {}
    for row in components:
        for item in row.get("components", []):
            found[str(item["label"])] = str(item["custom_id"])
    return found


def _halted(world: BotWorld) -> bool:
    return world.ctx.engine.halt_state.active


async def _private(world: BotWorld, click: StoredInteraction) -> str:
    follow = await world.discord.wait_for_event(
        FollowUp, lambda f: f.interaction_id == click.id and f.ephemeral)
    return follow.content


async def test_gate_buttons_follow_the_rules_and_denials_say_why(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    board = bot_world.ctx.engine.board
    architect = bot_world.ctx.engine.actor("architect")
    task = await board.create(architect, kind="feature", owner="gonzo", title="Model switcher")
    await board.attach(architect, task.id, "contract", json.dumps({"name": "string"}))

    show = await discord.slash_command("task", {"task_id": task.id}, "alice", "gonzo",
                                       subcommand="show")
    card = await discord.wait_for_event(FollowUp, lambda f: f.interaction_id == show.id)
    gate = discord.message(card.message_id)
    buttons = _buttons(gate.components)
    assert set(buttons) == {"Approve (Gonzo · contract)", "Request changes (Gonzo · contract)",
                            "Approve (Cleo · contract)", "Request changes (Cleo · contract)",
                            "Override"}
    fields = {f["name"]: f["value"] for f in card.embeds[0]["fields"]}
    assert "gonzo: JSON contract sign-off — no sign-off yet" in fields["Gate → implementation"]

    denied = await discord.click_button(gate.id, buttons["Approve (Gonzo · contract)"], "alice")
    assert "only gonzo or an admin may record gonzo's sign-off" in await _private(
        bot_world, denied)
    assert (await board.file(task.id)).signoffs == ()

    approved = await discord.click_button(gate.id, buttons["Approve (Gonzo · contract)"], "bob")
    await discord.wait_for_event(MessageEdit, lambda e: e.message_id == gate.id
                                 and "approved" in e.content)
    assert approved.id
    assert discord.message(gate.id).content == "Bob approved contract for gonzo on task #1."
    assert [(s.signer, s.decision) for s in (await board.file(task.id)).signoffs] == [
        ("gonzo", "approve")]
    assert "Approve (Gonzo · contract)" not in _buttons(discord.message(gate.id).components)

    changes = await discord.click_button(gate.id, buttons["Request changes (Cleo · contract)"],
                                         "bob")
    modal = await discord.wait_for_response(changes)
    assert modal.response_type == 9
    submitted = await discord.submit_modal(changes, {"note": "rename name to title"})
    await discord.wait_for_response(submitted)
    await discord.wait_for_event(MessageEdit, lambda e: e.message_id == gate.id
                                 and "requested changes" in e.content)
    last = (await board.file(task.id)).signoffs[-1]
    assert (last.signer, last.decision, last.notes) == ("cleo", "changes_requested",
                                                        "rename name to title")

    refused = await discord.click_button(gate.id, buttons["Override"], "alice")
    assert "only an admin may override (@alice is not one)" in await _private(bot_world, refused)
    assert (await board.file(task.id)).task.state == "new"

    override = await discord.click_button(gate.id, buttons["Override"], "bob")
    await discord.wait_for_response(override)
    done = await discord.submit_modal(override, {"note": "demo tomorrow"})
    await discord.wait_for_response(done)
    await discord.wait_for_event(MessageEdit, lambda e: e.message_id == gate.id
                                 and "overrode" in e.content)
    assert (await board.file(task.id)).task.state == "implementation"
    assert discord.message(gate.id).content == (
        "⚠️ Bob overrode the gate: task #1 is now implementation. Reason: demo tomorrow")


async def test_task_list_shows_open_tasks(bot_world: BotWorld) -> None:
    board = bot_world.ctx.engine.board
    architect = bot_world.ctx.engine.actor("architect")
    await board.create(architect, kind="research", owner="nellie", title="MLX vs llama.cpp")
    await board.create(architect, kind="script", owner="jax", title="Homelab tour")
    listed = await bot_world.discord.slash_command("task", {}, "alice", "skip",
                                                   subcommand="list")
    follow = await bot_world.discord.wait_for_event(
        FollowUp, lambda f: f.interaction_id == listed.id)
    text = follow.embeds[0]["description"]
    assert "**#1** research · new · nellie — MLX vs llama.cpp" in text
    assert "**#2** script · new · jax — Homelab tour" in text
    assert follow.ephemeral


async def test_halt_and_resume_are_for_admins_and_freeze_production(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    refused = await discord.slash_command("halt", {"reason": "disk full"}, "alice", "chief")
    assert (await _private(bot_world, refused)).startswith(
        "Refused: only chief or an admin may halt (@alice may not)")
    assert not _halted(bot_world)

    halted = await discord.slash_command("halt", {"reason": "disk full"}, "bob", "chief")
    assert await _private(bot_world, halted) == "Done."
    await bot_world.idle()
    assert _halted(bot_world)
    for channel in ("chief", "alerts"):
        notice = bot_world.answers(channel)[-1]
        assert notice.author_name == "Chief"
        assert notice.content.startswith(
            "🛑 **HALT** — Production Division halted by @bob: disk full.")
    frozen = await bot_world.converse("gonzo", "ship the API")
    assert frozen[-1].content == ("Gonzo can't take this on right now: new work for gonzo is "
                                  "refused: Production Division halted by @bob: disk full.")
    assert bot_world.calls("gonzo") == 0
    still = await bot_world.converse("nellie", "research continues?")
    assert still[-1].content == "Nellie here: all good."

    resumed = await discord.slash_command("resume", {}, "bob", "chief")
    assert await _private(bot_world, resumed) == "Done."
    assert not _halted(bot_world)
    back = await bot_world.converse("gonzo", "ship the API")
    assert back[-1].content == "Gonzo here: all good."


async def test_a_halt_cancels_a_production_reply_in_progress(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    bot_world.node("cleo").script = Script(reply="pixel " * 300, chunk_chars=6,
                                           chunk_delay=0.05)
    asked = await discord.user_message("cleo", "alice", "design the whole dashboard")
    await discord.wait_for_event(SentMessage, lambda m: m.username == "Cleo")
    halted = await discord.slash_command("halt", {"reason": "memory at 97%"}, "bob", "cleo")
    assert await _private(bot_world, halted) == "Done."
    await bot_world.settled(asked)
    reply = [m for m in bot_world.answers("cleo", after=asked.id) if m.author_name == "Cleo"]
    assert reply[-1].content.endswith(
        "_(halted: Production Division halted by @bob: memory at 97%)_")
    assert reply[-1].content.count("pixel") < 300
