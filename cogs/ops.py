"""``/status``, ``/spend [period] [by]`` (with a PNG chart) and ``/route show name``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import time
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import discord
from discord import app_commands
from discord.ext import commands

from bot.embeds import route_embed, spend_embed, status_embed
from inference.errors import StoreError
from inference.report import SpendReport, parse_since, spend_report
from inference.runtime import InferenceStack
from watch.chart import render_spend_chart
from watch.report import CHART_FILENAME, collect_digest

if TYPE_CHECKING:
    from bot.client import HomecrewBot

__all__ = ["OpsCog", "midnight"]

Interaction = discord.Interaction["HomecrewBot"]
By = Literal["agent", "key", "route", "node", "model", "day"]
_FLUSH_S = 2.0


def midnight(zone: str, now: float | None = None) -> float:
    """Epoch seconds of today's start in ``zone``."""
    tz = ZoneInfo(zone)
    today = dt.datetime.fromtimestamp(time.time() if now is None else now, tz).date()
    return dt.datetime.combine(today, dt.time(), tz).timestamp()


async def _report(stack: InferenceStack, *, since: float, by: By) -> SpendReport:
    with contextlib.suppress(TimeoutError, StoreError):
        async with asyncio.timeout(_FLUSH_S):
            await stack.ledger.flush()
    return await spend_report(await stack.database(), since=since, by=by)


class OpsCog(commands.Cog, name="ops"):
    route = app_commands.Group(name="route", description="The inference routes")

    def __init__(self, bot: HomecrewBot) -> None:
        self.bot = bot

    @app_commands.command(name="status", description="Nodes, routes, cache and today's local share")
    async def status(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        ctx = self.bot.ctx
        stack = ctx.stack
        try:
            today: SpendReport | None = await _report(
                stack, since=midnight(stack.settings.budgets.timezone), by="agent")
        except StoreError:
            today = None
        embed = status_embed(stack, today, ctx.engine.halt_state, self.bot.discord_status())
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="spend", description="Spend, local share and savings, with a chart")
    @app_commands.describe(period="how far back: 30m, 24h, 7d, 2w (default 7d)",
                           by="group by agent, API key (homecrew serve), route, node, model or day")
    async def spend(self, interaction: Interaction, period: str = "7d",
                    by: By = "agent") -> None:
        try:
            window = parse_since(period)
        except ValueError as exc:
            await interaction.response.send_message(f"Sorry: {exc}.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        ctx = self.bot.ctx
        since, until = time.time() - window, time.time()
        report = await _report(ctx.stack, since=since, by=by)
        cloud = {name for name, node in ctx.stack.settings.nodes.items() if node.is_cloud}
        digest = await collect_digest(await ctx.stack.database(), title=f"Last {period}",
                                      since=since, until=until, cloud_nodes=cloud)
        png = await asyncio.to_thread(render_spend_chart, digest,
                                      target=ctx.local_share_target)
        await interaction.followup.send(embed=spend_embed(report, period),
                                        file=discord.File(io.BytesIO(png), CHART_FILENAME))

    @route.command(name="show", description="A route's steps and who answers now")
    @app_commands.describe(name="the route")
    async def route_show(self, interaction: Interaction, name: str) -> None:
        stack = self.bot.ctx.stack
        if name not in stack.settings.routes:
            known = ", ".join(stack.settings.routes)
            await interaction.response.send_message(
                f"There is no route {name!r}; the routes are {known}.", ephemeral=True)
            return
        await interaction.response.send_message(embed=route_embed(stack, name), ephemeral=True)

    @route_show.autocomplete("name")
    async def _routes(self, interaction: Interaction,
                      current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=r, value=r)
                for r in self.bot.ctx.stack.settings.routes if current in r][:25]
