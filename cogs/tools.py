"""``/tools``: each agent's tools and whether their MCP servers are up."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.posting import NO_PINGS
from team.tools import ServerStatus

if TYPE_CHECKING:
    from bot.client import HomecrewBot
    from team.tools import Toolbox

__all__ = ["ToolsCog", "tools_embed"]

Interaction = discord.Interaction["HomecrewBot"]
_STATE_MARK = {"up": "🟢", "starting": "🟡", "down": "🔴"}
NO_TOOLS = "No agent has tools: grant some in a persona's `tools:` (README: Agent tools)."


def _server_line(status: ServerStatus) -> str:
    return f"{_STATE_MARK.get(status.state, '⚪')} {status.line()}"


def tools_embed(toolbox: Toolbox, names: dict[str, str]) -> discord.Embed:
    """One field per agent with grants: its servers' state, its tools, skipped grants."""
    embed = discord.Embed(title="Agents' tools", colour=discord.Colour.blurple())
    for agent in toolbox.overview():
        if not (agent.servers or agent.skipped):
            continue
        lines = [_server_line(s) for s in agent.servers]
        if agent.tools:
            lines.append("tools: " + ", ".join(f"`{t.name}`" + ("" if t.read_only else " ✋")
                                               for t in agent.tools))
        lines += [f"⚠️ {g.server}: not configured (grant skipped)" for g in agent.skipped]
        value = "\n".join(lines)
        if len(value) > 1024:
            value = value[:1023] + "…"
        embed.add_field(name=names.get(agent.agent, agent.agent), value=value, inline=False)
    embed.set_footer(text="✋ needs an admin's approval (side effects)")
    return embed


class ToolsCog(commands.Cog, name="tools"):
    def __init__(self, bot: HomecrewBot) -> None:
        self.bot = bot

    @app_commands.command(name="tools", description="Each agent's tools and their servers' state")
    async def tools(self, interaction: Interaction) -> None:
        ctx = self.bot.ctx
        if ctx.toolbox is None:
            await interaction.response.send_message(NO_TOOLS, ephemeral=True)
            return
        names = {p.name: p.display_name for p in ctx.roster}
        await interaction.response.send_message(embed=tools_embed(ctx.toolbox, names),
                                                ephemeral=True, allowed_mentions=NO_PINGS)
