"""The bot's cogs: one :class:`~cogs.persona.PersonaCog` per agent, plus the command cogs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from cogs.alerts import AlertsCog
from cogs.conversation import ConversationCog
from cogs.ops import OpsCog
from cogs.persona import PersonaCog
from cogs.team import TeamCog
from cogs.tools import ToolsCog

if TYPE_CHECKING:
    from bot.client import HomecrewBot

__all__ = ["AlertsCog", "ConversationCog", "OpsCog", "PersonaCog", "TeamCog", "ToolsCog",
           "load_cogs"]


async def load_cogs(bot: HomecrewBot) -> None:
    """Add every cog, its app commands bound to the served guild(s) only (the composition
    root hands this to :class:`bot.client.HomecrewBot`)."""
    guilds = bot.guilds_served
    for persona in bot.ctx.roster:
        await bot.add_cog(PersonaCog(bot, persona), guilds=guilds)
    cogs: list[commands.Cog] = [ConversationCog(bot), TeamCog(bot), OpsCog(bot),
                                 ToolsCog(bot)]
    if bot.ctx.watch is not None:
        cogs.append(AlertsCog(bot, bot.ctx.watch))
    for cog in cogs:
        await bot.add_cog(cog, guilds=guilds)
