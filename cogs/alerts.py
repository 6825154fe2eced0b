"""``/alerts``: Chief's incidents — open ones first, then the latest closed (loaded only
when Chief's watch runs in the bot's process)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from watch.engine import Watch
from watch.incidents import Incident
from watch.messages import format_duration

if TYPE_CHECKING:
    from bot.client import HomecrewBot

__all__ = ["AlertsCog", "incident_line"]

_SHOWN = 15


def incident_line(incident: Incident, now: float) -> str:
    if incident.closed_at is None:
        since = format_duration(now - incident.first_failed_at)
        return f"🔴 **{incident.subject}** — {incident.title} (open for {since})"
    lasted = format_duration(incident.closed_at - incident.first_failed_at)
    return f"✅ {incident.subject} — {incident.title} (lasted {lasted})"


class AlertsCog(commands.Cog, name="alerts"):
    def __init__(self, bot: HomecrewBot, watch: Watch) -> None:
        self.bot = bot
        self.watch = watch

    @app_commands.command(name="alerts", description="Chief's incidents: open and recent")
    async def alerts(self, interaction: discord.Interaction[HomecrewBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = time.time()
        opened = self.watch.open_incidents
        known = {i.id for i in opened}
        closed = [i for i in await self.watch.history(limit=_SHOWN) if i.id not in known]
        lines = [incident_line(i, now) for i in [*opened, *closed][:_SHOWN]]
        embed = discord.Embed(title="Chief's incidents", colour=discord.Colour.red()
                              if opened else discord.Colour.green())
        embed.description = "\n".join(lines) or "No incidents on record. All quiet."
        await interaction.followup.send(embed=embed, ephemeral=True)
