"""Gates in Discord: a task's next gate as a message with Approve / Request changes /
Override buttons.

The buttons carry the task, the signer and the topic in their custom ids (persistent
across restarts through :class:`GateButton`, a ``DynamicItem``). The task board decides
every click: a sign-off is recorded only for the signing agent's own flow or by an admin,
an override only by an admin and with a reason; a denial is answered (privately) with
the board's reasons. Typing "approve" in a channel does nothing: only these buttons act.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import discord

from bot.context import BotContext
from personas.policy import GATED_STATES
from team.rules import Ruling
from team.tasks import STATES, TRANSITIONS, Task, TaskFile, TaskState

__all__ = ["GateAction", "GateButton", "GateSpec", "gate_message", "next_target"]

GateAction = Literal["approve", "changes", "override"]
_TEMPLATE = (r"hc:gate:(?P<task>\d+):(?P<action>approve|changes|override):"
             r"(?P<signer>[a-z0-9_-]*):(?P<topic>[a-z0-9_-]*):(?P<target>[a-z]+)")
_LABELS: dict[GateAction, str] = {"approve": "Approve", "changes": "Request changes",
                                  "override": "Override"}
_STYLES: dict[GateAction, discord.ButtonStyle] = {
    "approve": discord.ButtonStyle.success, "changes": discord.ButtonStyle.secondary,
    "override": discord.ButtonStyle.danger,
}


@dataclass(frozen=True, slots=True)
class GateSpec:
    task_id: int
    action: GateAction
    signer: str
    topic: str
    target: str

    @property
    def custom_id(self) -> str:
        return (f"hc:gate:{self.task_id}:{self.action}:{self.signer}:{self.topic}:"
                f"{self.target}")


def next_target(file: TaskFile, gated: Collection[str]) -> TaskState | None:
    """The furthest forward state the task may move to, preferring gated ones."""
    task = file.task
    ahead = [s for s in STATES if s in TRANSITIONS[task.state] and s != "cancelled"
             and STATES.index(s) > STATES.index(task.state)]
    gated_ahead = [s for s in ahead if s in gated]
    chosen = gated_ahead or ahead
    return chosen[-1] if chosen else None


class GateButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=_TEMPLATE):
    def __init__(self, spec: GateSpec, label: str | None = None) -> None:
        self.spec = spec
        super().__init__(discord.ui.Button(
            label=label or _LABELS[spec.action], style=_STYLES[spec.action],
            custom_id=spec.custom_id,
        ))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> GateButton:
        action: GateAction = match["action"]  # type: ignore[assignment]
        spec = GateSpec(int(match["task"]), action, match["signer"], match["topic"],
                        match["target"])
        return cls(spec)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        from bot.gate_clicks import handle_click

        await handle_click(interaction.client, interaction, self.spec)


async def gate_message(ctx: BotContext, task_id: int) -> tuple[discord.Embed, discord.ui.View]:
    """The task's card and its next gate's buttons."""
    board = ctx.engine.board
    file = await board.file(task_id)
    gated = {s for s in GATED_STATES if ctx.engine.policy.gate(file.task.kind, s)}
    target = next_target(file, gated)
    ruling = await board.preview(task_id, target) if target is not None else None
    return task_embed(file, ruling), gate_view(ctx, file.task, ruling)


def task_embed(file: TaskFile, ruling: Ruling | None) -> discord.Embed:
    task = file.task
    embed = discord.Embed(title=f"Task #{task.id} — {task.title}"[:256],
                          colour=discord.Colour.blurple())
    embed.add_field(name="Kind", value=task.kind)
    embed.add_field(name="Owner", value=task.owner)
    embed.add_field(name="State", value=task.state)
    if task.areas:
        embed.add_field(name="Areas", value=", ".join(task.areas))
    if file.artifacts:
        embed.add_field(name="Artifacts", inline=False, value="\n".join(
            f"{a.kind} v{a.version} ({a.sha256[:8]})" for a in file.artifacts.values())[:1024])
    if file.signoffs:
        embed.add_field(name="Sign-offs", inline=False, value="\n".join(
            f"{s.signer} · {s.topic} · {s.decision.replace('_', ' ')}"
            + (f" — {s.notes[:80]}" if s.notes else "") for s in file.signoffs[-8:])[:1024])
    if ruling is not None:
        embed.add_field(name=f"Gate → {ruling.target}", inline=False, value=_gate_text(ruling))
    return embed


def _gate_text(ruling: Ruling) -> str:
    if ruling.allowed:
        return "✅ every requirement is met"
    lines = [f"⛔ {b}" for b in ruling.blocks] + [f"• {m.describe()}" for m in ruling.missing]
    return "\n".join(lines)[:1024]


def gate_view(ctx: BotContext, task: Task, ruling: Ruling | None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if ruling is None or ruling.allowed:
        return view
    buttons: list[GateButton] = []
    for missing in ruling.missing:
        req = ctx.engine.policy.requirements.get(missing.requirement)
        if req is None or req.type not in ("signoffs", "chief") or not missing.agent:
            continue
        who = ctx.engine.persona(missing.agent).display_name
        for action in ("approve", "changes"):
            spec = GateSpec(task.id, action, missing.agent, req.topic or "", ruling.target)
            label = f"{_LABELS[action]} ({who} · {req.topic})"[:80]
            buttons.append(GateButton(spec, label))
    if ruling.missing and not ruling.blocks:
        buttons.append(GateButton(GateSpec(task.id, "override", "", "", ruling.target)))
    for button in buttons[:25]:
        if len(button.spec.custom_id) <= 100:
            view.add_item(button)
    return view
