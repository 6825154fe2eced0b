"""Chief's watch posts (RED ALERTs, ALL CLEARs, budget warnings, spend reports) through
discord.py — the bot's one client and rate limiter; ``watch`` itself knows nothing of
Discord and hands over typed :class:`~watch.messages.ChiefMessage` posts.

* :class:`ChiefPoster`: the running bot posts as an embed under Chief's name and avatar (the
  channel's webhook) in the named channel;
* :class:`RestChiefPoster`: ``homecrew report spend --post`` logs in briefly with
  discord.py's REST client (no gateway) and posts as the bot.

Either mentions the configured critical role only when the message asks for it (nothing
else is ever pinged). A refused post raises :class:`~watch.poster.PostError` quoting
Discord's status, error code and message (never the token).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.chief_embeds import chief_post, refusal
from bot.endpoints import discord_endpoints
from watch.messages import ChiefMessage
from watch.poster import PostError

if TYPE_CHECKING:
    from bot.client import HomecrewBot

__all__ = ["ChiefPoster", "RestChiefPoster"]


def _channel_named(channels: list[discord.abc.GuildChannel], name: str
                   ) -> discord.TextChannel | None:
    wanted = name.lstrip("#")
    return next((c for c in channels if isinstance(c, discord.TextChannel)
                 and c.name == wanted), None)


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
        for guild_id in bot.ctx.settings.guild_ids:
            guild = bot.get_guild(guild_id)
            channel = None if guild is None else _channel_named(
                list(guild.text_channels), channel_name)
            if guild is None or channel is None:
                raise PostError(f"no #{channel_name.lstrip('#')} channel in guild {guild_id}")
            await self._send(bot, guild, channel, message)

    async def _send(self, bot: HomecrewBot, guild: discord.Guild, channel: discord.TextChannel,
                    message: ChiefMessage) -> None:
        ctx = bot.ctx
        kwargs = chief_post(message, list(guild.roles), self._role).kwargs()
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
                            f"({refusal(exc)})") from None


class RestChiefPoster:
    """A :class:`watch.poster.Poster` for the CLI: ``async with`` logs in over REST only
    (``discord.Client.login``: no gateway) and closes the client after."""

    def __init__(self, token: str, guild_id: int, *, api_base: str | None = None,
                 role_name: str | None = None) -> None:
        self._token = token
        self._guild_id = guild_id
        self._api_base = api_base
        self._role = role_name
        self._client = discord.Client(intents=discord.Intents.none())
        self._guild: discord.Guild | None = None
        self._endpoints = discord_endpoints(api_base, None)

    async def __aenter__(self) -> RestChiefPoster:
        self._endpoints.__enter__()
        try:
            await self._client.login(self._token)
        except discord.LoginFailure:
            await self._close()
            raise PostError("Discord refused the bot token (HTTP 401): check DISCORD_TOKEN "
                            "or `homecrew doctor`") from None
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            await self._close()
            raise _unreachable(exc) from None
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._close()

    async def _close(self) -> None:
        try:
            await self._client.close()
        finally:
            self._endpoints.__exit__(None, None, None)

    async def post(self, channel_name: str, message: ChiefMessage) -> None:
        try:
            guild = self._guild or await self._client.fetch_guild(self._guild_id)
            self._guild = guild
            channel = _channel_named(list(await guild.fetch_channels()), channel_name)
            if channel is None:
                raise PostError(f"no text channel #{channel_name.lstrip('#')} in guild "
                                f"{self._guild_id}")
            roles = list(await guild.fetch_roles()) if message.mention_role else []
            await channel.send(**chief_post(message, roles, self._role).kwargs())
        except discord.HTTPException as exc:
            raise PostError(f"Discord refused Chief's post in #{channel_name.lstrip('#')} "
                            f"({refusal(exc)})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _unreachable(exc) from None


def _unreachable(exc: Exception) -> PostError:
    if isinstance(exc, discord.HTTPException):
        return PostError(f"Discord refused the login ({refusal(exc)})")
    return PostError(f"Discord unreachable ({type(exc).__name__})")
