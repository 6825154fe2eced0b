"""``/stop``, ``/retry`` and ``/ask``: steering the replies in a channel or thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.channels import Place, conversation_id
from bot.posting import NO_PINGS
from bot.reply import start_reply
from personas.schema import Persona

if TYPE_CHECKING:
    from bot.client import HomecrewBot

__all__ = ["ConversationCog"]

Interaction = discord.Interaction["HomecrewBot"]


def _place(interaction: Interaction) -> Place | None:
    channel = interaction.channel
    return channel if isinstance(channel, discord.TextChannel | discord.Thread) else None


class ConversationCog(commands.Cog, name="conversation"):
    def __init__(self, bot: HomecrewBot) -> None:
        self.bot = bot

    @app_commands.command(name="stop", description="Stop the reply being written here")
    async def stop(self, interaction: Interaction) -> None:
        if interaction.channel_id is None:
            return
        jobs = self.bot.ctx.tracker.stop(
            interaction.channel_id, f"stopped by {interaction.user.display_name}")
        if not jobs:
            await interaction.response.send_message(
                "Nothing is being written here right now.", ephemeral=True)
            return
        names = sorted({self.bot.ctx.engine.persona(j.agent).display_name for j in jobs})
        await interaction.response.send_message(
            f"Stopped {', '.join(names)}'s reply.", ephemeral=True)

    @app_commands.command(name="retry", description="Write the last reply here again")
    async def retry(self, interaction: Interaction) -> None:
        ctx = self.bot.ctx
        place = _place(interaction)
        if place is None:
            await interaction.response.send_message("Use /retry in a channel or thread.",
                                                    ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        agent = ctx.channels.agent_of_place(place)
        cid = ctx.tracker.last_conversation(place.id) or (
            conversation_id(place.id, agent) if agent else None)
        last = await ctx.engine.conversations.last_turn(cid) if cid else None
        if cid is None or last is None or last.agent is None:
            await interaction.followup.send("There is no reply here to write again.",
                                            ephemeral=True)
            return
        if ctx.tracker.in_place(place.id):
            await interaction.followup.send(
                "A reply is still being written here: wait for it, or /stop it first.",
                ephemeral=True)
            return
        persona = ctx.engine.persona(last.agent)
        start_reply(ctx, persona, place, author=interaction.user.display_name, retry=True,
                    conversation=cid)
        await interaction.followup.send(f"Asking {persona.display_name} to answer again.",
                                        ephemeral=True)

    @app_commands.command(name="ask", description="Ask an agent something, here")
    @app_commands.describe(agent="who to ask", prompt="what to ask")
    async def ask(self, interaction: Interaction, agent: str,
                  prompt: app_commands.Range[str, 1, 4000]) -> None:
        ctx = self.bot.ctx
        place = _place(interaction)
        persona = self._persona(agent)
        if persona is None or place is None:
            team = ", ".join(p.name for p in ctx.roster)
            why = f"I don't know an agent called {agent!r}; the team is {team}." \
                if persona is None else "Use /ask in a channel or thread."
            await interaction.response.send_message(why, ephemeral=True)
            return
        shown = prompt if len(prompt) <= 1800 else prompt[:1799] + "…"
        await interaction.response.send_message(
            f"**{interaction.user.display_name}** asked **{persona.display_name}**: {shown}",
            allowed_mentions=NO_PINGS)
        start_reply(ctx, persona, place, author=interaction.user.display_name, text=prompt)

    @ask.autocomplete("agent")
    async def _agents(self, interaction: Interaction,
                      current: str) -> list[app_commands.Choice[str]]:
        wanted = current.lower()
        return [app_commands.Choice(name=p.headline[:100], value=p.name)
                for p in self.bot.ctx.roster if wanted in p.name][:25]

    def _persona(self, name: str) -> Persona | None:
        try:
            return self.bot.ctx.roster.get(name)
        except KeyError:
            return None
