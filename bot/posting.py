"""Where an agent's words go: its channel's webhook (its own name and avatar) or, when
webhooks are not allowed there, the bot itself with the agent's name in bold.

Every message the bot sends carries ``allowed_mentions`` none: model output can never
ping @everyone, a role or a user.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import discord

from bot.splitting import DISCORD_LIMIT

__all__ = ["NO_PINGS", "BotPoster", "Poster", "Speaker", "WebhookPool", "WebhookPoster"]

log = logging.getLogger(__name__)
NO_PINGS = discord.AllowedMentions.none()


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who speaks: the persona's display name and avatar."""

    name: str
    avatar_url: str | None = None


class Poster(Protocol):
    """Sends and edits one reply's messages in one place (channel or thread)."""

    @property
    def limit(self) -> int: ...

    @property
    def channel_id(self) -> int: ...

    async def send(self, content: str) -> int: ...

    async def edit(self, message_id: int, content: str) -> None: ...


class WebhookPoster:
    def __init__(self, webhook: discord.Webhook, speaker: Speaker,
                 thread: discord.abc.Snowflake | None = None) -> None:
        self._hook = webhook
        self._speaker = speaker
        self._thread = thread

    @property
    def limit(self) -> int:
        return DISCORD_LIMIT

    @property
    def channel_id(self) -> int:
        return self._hook.id

    def _where(self) -> dict[str, Any]:
        return {} if self._thread is None else {"thread": self._thread}

    async def send(self, content: str) -> int:
        sent = await self._hook.send(
            content, username=self._speaker.name, avatar_url=self._speaker.avatar_url,
            wait=True, allowed_mentions=NO_PINGS, **self._where(),
        )
        return sent.id

    async def edit(self, message_id: int, content: str) -> None:
        await self._hook.edit_message(
            message_id, content=content, allowed_mentions=NO_PINGS, **self._where()
        )


class BotPoster:
    """The fallback: the bot's own messages, prefixed with the agent's name."""

    def __init__(self, channel: discord.abc.Messageable, channel_id: int, speaker: Speaker,
                 *, reference: discord.Message | None = None) -> None:
        self._channel = channel
        self._channel_id = channel_id
        self._prefix = f"**{speaker.name}:** "
        self._reference = reference
        self._messages: dict[int, discord.Message] = {}

    @property
    def limit(self) -> int:
        return DISCORD_LIMIT - len(self._prefix)

    @property
    def channel_id(self) -> int:
        return self._channel_id

    async def send(self, content: str) -> int:
        extra: dict[str, Any] = {}
        if self._reference is not None and not self._messages:
            extra["reference"] = self._reference
            extra["mention_author"] = False
        sent = await self._channel.send(self._prefix + content, allowed_mentions=NO_PINGS,
                                        **extra)
        self._messages[sent.id] = sent
        return sent.id

    async def edit(self, message_id: int, content: str) -> None:
        await self._messages[message_id].edit(content=self._prefix + content,
                                              allowed_mentions=NO_PINGS)


class WebhookPool:
    """``size`` webhooks per channel, set up on first use (found again after a restart,
    created when missing) and taken by replies in turn.

    discord.py sends one request at a time per webhook and Discord rate-limits each
    webhook on its own, so with a single webhook the replies streaming in a channel's
    threads would queue behind each other's posts and edits.
    """

    def __init__(self, name: str, size: int = 1) -> None:
        self._name = name
        self._size = size
        self._hooks: dict[int, tuple[discord.Webhook, ...]] = {}  # () = not allowed there
        self._turns: dict[int, itertools.count[int]] = {}
        self._ids: set[int] = set()
        self._locks: dict[int, asyncio.Lock] = {}

    def known(self, webhook_id: int) -> bool:
        return webhook_id in self._ids

    async def get(self, channel: discord.TextChannel) -> discord.Webhook | None:
        """One of the channel's webhooks (the next in turn), or None when the bot may not
        manage webhooks there."""
        hooks = await self.prepare(channel)
        if not hooks:
            return None
        return hooks[next(self._turns[channel.id]) % len(hooks)]

    async def prepare(self, channel: discord.TextChannel) -> tuple[discord.Webhook, ...]:
        """The channel's webhooks, set up now if they are not yet (takes no turn)."""
        hooks = self._hooks.get(channel.id)
        return hooks if hooks is not None else await self._set_up(channel)

    async def _set_up(self, channel: discord.TextChannel) -> tuple[discord.Webhook, ...]:
        lock = self._locks.setdefault(channel.id, asyncio.Lock())
        async with lock:
            if channel.id in self._hooks:
                return self._hooks[channel.id]
            try:
                hooks = await self._find_or_create(channel)
            except discord.Forbidden:
                log.warning("no Manage Webhooks permission in #%s: agents post as the bot "
                            "there", channel.name)
                hooks = ()
            except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
                # transient: try again next time
                why = (exc.text or exc.status if isinstance(exc, discord.HTTPException)
                       else type(exc).__name__)
                log.warning("cannot set up a webhook in #%s (%s): this reply comes from the "
                            "bot", channel.name, why)
                return ()
            self._hooks[channel.id] = hooks
            self._turns[channel.id] = itertools.count()
            self._ids.update(hook.id for hook in hooks)
            return hooks

    async def _find_or_create(self, channel: discord.TextChannel
                              ) -> tuple[discord.Webhook, ...]:
        me = channel.guild.me
        hooks = [
            hook for hook in await channel.webhooks()
            if hook.user is not None and me is not None and hook.user.id == me.id
            and hook.name == self._name and hook.token
        ][:self._size]
        while len(hooks) < self._size:
            try:
                hooks.append(await channel.create_webhook(name=self._name,
                                                          reason="homecrew agents"))
            except discord.HTTPException as exc:
                if not hooks:
                    raise
                # e.g. the channel already has Discord's maximum of 15 webhooks
                log.info("#%s: %d of %d webhooks (%s)", channel.name, len(hooks),
                         self._size, exc.text or exc.status)
                break
        return tuple(hooks)
