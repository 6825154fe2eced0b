"""Gates in Discord: a task's next gate as a message with Approve / Request changes /
Override buttons.

The buttons carry the task, the signer and the topic in their custom ids (persistent
across restarts through :class:`GateButton`, a ``DynamicItem``). The task board decides
every click: a sign-off is recorded only for the signing agent's own flow or by an admin,
an override only by an admin and with a reason; a denial is answered (privately) with
the board's reasons. Typing "approve" in a channel does nothing: only these buttons act.

A click: Approve records the signer's approval at once. Request changes and Override ask
an admin for notes / a reason in a modal first; anyone else is refused straight away (the
refusal is still put to the board, so the audit log has it). Denials are private and say
why; successes refresh the gate message for everyone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import discord

from bot.context import BotContext
from bot.posting import NO_PINGS
from personas.policy import GATED_STATES
from team.errors import Refused, TeamError
from team.rules import Ruling
from team.tasks import STATES, TRANSITIONS, Decision, Task, TaskFile, TaskState

__all__ = [
    "GateAction", "GateButton", "GateModal", "GateSpec", "gate_message", "handle_click",
    "next_target",
]

log = logging.getLogger(__name__)

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
        await handle_click(interaction.client.ctx, interaction, self.spec)


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


# -- clicks -------------------------------------------------------------------------------
async def handle_click(ctx: BotContext, interaction: discord.Interaction[Any],
                       spec: GateSpec) -> None:
    """What a click on a gate button does (see the module's docstring)."""
    if spec.action == "approve":
        await interaction.response.defer()
        await _decide(ctx, interaction, spec, "")
    elif ctx.is_admin(interaction.user):
        await interaction.response.send_modal(GateModal(ctx, spec))
    else:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await _decide(ctx, interaction, spec, "")


async def _decide(ctx: BotContext, interaction: discord.Interaction[Any], spec: GateSpec,
                  note: str) -> None:
    """Put the click to the board; refresh the gate or explain the denial."""
    actor = ctx.actor(interaction.user)
    board = ctx.engine.board
    who = interaction.user.display_name
    try:
        if spec.action == "override":
            target: TaskState = spec.target  # type: ignore[assignment]
            ruling = await board.request(actor, spec.task_id, target, override=note)
            if not ruling.allowed:
                raise Refused(f"override of task {spec.task_id}", ruling.reasons)
            done = f"⚠️ {who} overrode the gate: task #{spec.task_id} is now {spec.target}. " \
                   f"Reason: {note}"
        else:
            decision: Decision = "approve" if spec.action == "approve" else "changes_requested"
            await board.sign(actor, spec.task_id, signer=spec.signer, topic=spec.topic,
                             decision=decision, notes=note or f"in Discord by @{who}")
            verb = "approved" if decision == "approve" else "requested changes on"
            done = f"{who} {verb} {spec.topic} for {spec.signer} on task #{spec.task_id}."
    except Refused as exc:
        await _private(interaction, "Not recorded: " + "; ".join(exc.reasons))
        return
    except TeamError as exc:
        await _private(interaction, f"Not recorded: {ctx.redact(str(exc))}")
        return
    embed, view = await gate_message(ctx, spec.task_id)
    await interaction.edit_original_response(content=ctx.redact(done)[:2000], embed=embed,
                                             view=view, allowed_mentions=NO_PINGS)


async def _private(interaction: discord.Interaction[Any], text: str) -> None:
    await interaction.followup.send(text[:2000], ephemeral=True, allowed_mentions=NO_PINGS)


class GateModal(discord.ui.Modal):
    """Notes for "Request changes", a reason for "Override" (admins only)."""

    def __init__(self, ctx: BotContext, spec: GateSpec) -> None:
        title = "Override the gate" if spec.action == "override" else "Request changes"
        super().__init__(title=title, custom_id=f"hc:gate-modal:{spec.task_id}:{spec.action}",
                         timeout=600)
        self._ctx = ctx
        self._spec = spec
        label = "Why override? (recorded in the audit log)" if spec.action == "override" \
            else "What should change?"
        self.note: discord.ui.TextInput[GateModal] = discord.ui.TextInput(
            label=label, custom_id="note", style=discord.TextStyle.paragraph, max_length=1000,
        )
        self.add_item(self.note)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        try:
            await _decide(self._ctx, interaction, self._spec, self.note.value.strip())
        except discord.HTTPException as exc:
            log.warning("gate modal failed: %s", self._ctx.redact(str(exc)))
            await _private(interaction, "Sorry, that didn't work; try the button again.")
