"""``/agents``, ``/task list|show`` (with the task's gate buttons), ``/halt`` and ``/resume``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.channels import Place
from bot.embeds import agents_embed, tasks_embed
from bot.gates import gate_message
from bot.posting import NO_PINGS
from bot.reply import say
from personas.schema import Persona
from team.errors import Refused, UnknownTask
from team.halt import HaltState

if TYPE_CHECKING:
    from bot.client import HomecrewBot

__all__ = ["TeamCog"]

Interaction = discord.Interaction["HomecrewBot"]
StateChoice = Literal["new", "design", "implementation", "review", "shipped", "cancelled"]


class TeamCog(commands.Cog, name="team"):
    task = app_commands.Group(name="task", description="The team's tasks")

    def __init__(self, bot: HomecrewBot) -> None:
        self.bot = bot

    @app_commands.command(name="agents", description="Who is on the team")
    async def agents(self, interaction: Interaction) -> None:
        ctx = self.bot.ctx
        await interaction.response.send_message(
            embed=agents_embed(ctx.roster, ctx.channels), ephemeral=True)

    @task.command(name="list", description="Open tasks (or those in a state / of an owner)")
    @app_commands.describe(state="only tasks in this state", owner="only this agent's tasks")
    async def task_list(self, interaction: Interaction, state: StateChoice | None = None,
                        owner: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        states: tuple[str, ...] = (state,) if state else (
            "new", "design", "implementation", "review")
        found = await self.bot.ctx.engine.board.tasks(
            states=states, owner=owner.strip().lower() if owner else None)
        heading = f"Tasks ({state or 'open'}{f', {owner}' if owner else ''})"
        await interaction.followup.send(embed=tasks_embed(found[:40], heading), ephemeral=True)

    @task.command(name="show", description="A task, its sign-offs and its next gate")
    @app_commands.describe(task_id="the task number")
    async def task_show(self, interaction: Interaction,
                        task_id: app_commands.Range[int, 1]) -> None:
        await interaction.response.defer(thinking=True)
        try:
            embed, view = await gate_message(self.bot.ctx, task_id)
        except UnknownTask:
            await interaction.followup.send(f"There is no task #{task_id}.")
            return
        await interaction.followup.send(embed=embed, view=view, allowed_mentions=NO_PINGS)

    @app_commands.command(name="halt", description="Halt the Production Division (admins, Chief)")
    @app_commands.describe(reason="why (shown to the team and kept in the audit log)")
    async def halt(self, interaction: Interaction,
                   reason: app_commands.Range[str, 1, 500]) -> None:
        await self._switch(interaction, active=True, reason=reason)

    @app_commands.command(name="resume", description="Lift the halt (admins, Chief)")
    async def resume(self, interaction: Interaction) -> None:
        await self._switch(interaction, active=False, reason="")

    async def _switch(self, interaction: Interaction, *, active: bool, reason: str) -> None:
        ctx = self.bot.ctx
        await interaction.response.defer(ephemeral=True, thinking=True)
        actor = ctx.actor(interaction.user)
        try:
            state = await (ctx.engine.halt(actor, reason) if active
                           else ctx.engine.resume(actor, f"resumed in Discord by {actor.label}"))
        except Refused as exc:
            await interaction.followup.send("Refused: " + "; ".join(exc.reasons), ephemeral=True)
            return
        await self._announce(interaction, state)
        await interaction.followup.send("Done.", ephemeral=True)

    async def _announce(self, interaction: Interaction, state: HaltState) -> None:
        ctx = self.bot.ctx
        production = ", ".join(sorted(ctx.engine.board.production))
        if state.active:
            text = (f"🛑 **HALT** — {state.describe()}.\n{production}: stop now. New work is "
                    "refused until `/resume`.")
        else:
            text = f"✅ **RESUMED** by {state.actor} — {production} may carry on."
        places: list[Place] = []
        if isinstance(interaction.channel, discord.TextChannel | discord.Thread):
            places.append(interaction.channel)
        alerts = ctx.channels.alerts_channel(interaction.guild) if interaction.guild else None
        if alerts is not None and all(p.id != alerts.id for p in places):
            places.append(alerts)
        chief = self._chief()
        for place in places:
            await say(ctx, chief, place, text)

    def _chief(self) -> Persona:
        engine = self.bot.ctx.engine
        for name in engine.policy.halt.by:
            if name in engine.roster:
                return engine.roster.get(name)
        return engine.roster.orchestrator
