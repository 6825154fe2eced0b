"""One cog per agent: the agent answers, in its voice, what is said to it.

The bot builds one :class:`PersonaCog` per persona file, so a new persona file (and a
channel of that name) adds an agent with no code change. The bot decides once per message
which agent it is for (:meth:`HomecrewBot.on_message`) and hands it to that agent's cog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.inbound import read_message
from bot.reply import start_note, start_reply
from bot.tracker import ReplyJob
from personas.schema import Persona

if TYPE_CHECKING:
    from bot.client import HomecrewBot

__all__ = ["PersonaCog"]


class PersonaCog(commands.Cog):
    def __init__(self, bot: HomecrewBot, persona: Persona) -> None:
        self.bot = bot
        self.persona = persona
        self.__cog_name__ = f"agent:{persona.name}"
        self.__cog_description__ = persona.headline

    async def cog_load(self) -> None:
        self.bot.answerers[self.persona.name] = self.answer

    async def cog_unload(self) -> None:
        self.bot.answerers.pop(self.persona.name, None)

    async def answer(self, message: discord.Message) -> ReplyJob | None:
        """Answer ``message`` (the bot has claimed it for this agent); the reply started."""
        place = message.channel
        if not isinstance(place, discord.TextChannel | discord.Thread):
            return None
        ctx = self.bot.ctx
        inbound = read_message(message, max_chars=ctx.settings.max_input_chars)
        if inbound.note is not None:
            return start_note(ctx, self.persona, place, inbound.note, reference=message)
        if inbound.text is not None:
            return start_reply(ctx, self.persona, place, author=message.author.display_name,
                               text=inbound.text, reference=message)
        return None
