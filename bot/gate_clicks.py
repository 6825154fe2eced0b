"""What a click on a gate button does: the task board decides, Discord shows the outcome.

Approve records the signer's approval at once. Request changes and Override ask an admin
for notes / a reason in a modal first; anyone else is refused straight away (the refusal
is still put to the board, so the audit log has it). Denials are private and say why;
successes refresh the gate message for everyone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.gates import GateSpec, gate_message
from bot.posting import NO_PINGS
from team.errors import Refused, TeamError
from team.tasks import Decision, TaskState

if TYPE_CHECKING:
    from bot.client import HomecrewBot
    from bot.context import BotContext

__all__ = ["GateModal", "handle_click"]

log = logging.getLogger(__name__)


async def handle_click(client: HomecrewBot, interaction: discord.Interaction[Any],
                       spec: GateSpec) -> None:
    ctx = client.ctx
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
