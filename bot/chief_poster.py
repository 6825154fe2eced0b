"""Chief's watch posts (RED ALERTs, ALL CLEARs, budget warnings, spend reports) through the
bot: as an embed under Chief's name and avatar in the named channel, mentioning the
configured critical role only when the message asks for it (nothing else is ever pinged).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import discord

from bot.posting import NO_PINGS
from watch.discord_rest import embed_payload
from watch.messages import ChiefMessage
from watch.poster import PostError

if TYPE_CHECKING:
    from bot.client import HomecrewBot

__all__ = ["ChiefPoster"]


class ChiefPoster:
    """A :class:`watch.poster.Poster`; :meth:`attach` the bot once it exists."""

    def __init__(self, *, speaker_agent: str = "chief", critical_role: str | None = None) -> None:
        self._agent = speaker_agent
        self._role = critical_role
        self._bot: HomecrewBot | None = None

    def attach(self, bot: HomecrewBot) -> None:
        self._bot = bot

    async def post(self, channel_name: str, message: ChiefMessage) -> None:
        bot = self._bot
        if bot is None or not bot.is_ready():
            raise PostError("the bot is not connected to Discord yet")
        ctx = bot.ctx
        for guild_id in ctx.settings.guild_ids:
            guild = bot.get_guild(guild_id)
            channel = None if guild is None else discord.utils.get(
                guild.text_channels, name=channel_name.lstrip("#"))
            if guild is None or channel is None:
                raise PostError(f"no #{channel_name} channel in guild {guild_id}")
            await self._send(bot, guild, channel, message)

    async def _send(self, bot: HomecrewBot, guild: discord.Guild, channel: discord.TextChannel,
                    message: ChiefMessage) -> None:
        ctx = bot.ctx
        kwargs: dict[str, Any] = {
            "embed": discord.Embed.from_dict(embed_payload(message)),
            "files": [discord.File(io.BytesIO(a.data), a.filename) for a in message.attachments],
            "allowed_mentions": NO_PINGS,
        }
        role = discord.utils.get(guild.roles, name=self._role) if self._role else None
        if message.mention_role and role is not None:
            kwargs["content"] = role.mention
            kwargs["allowed_mentions"] = discord.AllowedMentions(
                everyone=False, users=False, roles=[role], replied_user=False)
        persona = ctx.roster.get(self._agent) if self._agent in ctx.roster \
            else ctx.roster.orchestrator
        try:
            hook = await ctx.webhooks.get(channel)
            if hook is not None:
                await hook.send(username=persona.display_name, avatar_url=persona.avatar_url,
                                wait=True, **kwargs)
            else:
                await channel.send(**kwargs)
        except discord.HTTPException as exc:
            raise PostError(f"Discord refused Chief's post in #{channel.name} "
                            f"({exc.status})") from None
