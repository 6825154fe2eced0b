"""The Discord client: a ``commands.Bot`` that loads one persona cog per agent and the
command cogs in ``setup_hook``, and syncs its slash commands once, to the configured
guild(s) only — never globally, never again on a reconnect. A refused sync does not stop
the bot (:mod:`bot.command_sync` retries it), and its gateway connection is supervised
(:mod:`bot.gateway`: bounded reconnect delay, a bad event does not end the process).

It answers only in the configured guild(s), never its own messages, webhook messages or
other bots (agents cannot hear each other and loop), and each message at most once (a
gateway replay after a resume is recognised).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

import discord
from discord import app_commands
from discord.ext import commands

from bot.backoff import Backoff
from bot.catch_up import CatchUp
from bot.command_sync import RECORD_NAME, CommandSync
from bot.context import BotContext
from bot.gate_feed import GateFeed
from bot.gates import GateButton
from bot.gateway import CrashCounter, GatewaySupervisor, guard_parsers
from bot.inbound import agent_for
from bot.reply import Answer
from bot.wording import plain_reason

__all__ = ["CogFactory", "CogLoader", "HomecrewBot", "HomecrewTree", "bot_intents"]

log = logging.getLogger(__name__)
_SEEN_MAX = 10_000
_FIRST_SYNC_WAIT_S = 5.0  # start-up waits this long for the first sync's answer at most


def bot_intents() -> discord.Intents:
    """Guilds (channels, threads), guild messages, and message content (privileged)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    return intents


class HomecrewTree(app_commands.CommandTree["HomecrewBot"]):
    """Commands only from the configured guilds; errors answered in plain words."""

    async def interaction_check(self, interaction: discord.Interaction[HomecrewBot]) -> bool:
        return interaction.guild_id in interaction.client.ctx.settings.guild_ids

    async def on_error(self, interaction: discord.Interaction[HomecrewBot],
                       error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure):
            return
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        redact = interaction.client.ctx.redact
        log.warning("/%s failed: %s", interaction.command.name if interaction.command else "?",
                    redact(f"{type(cause).__name__}: {cause}"))
        reason = plain_reason(str(cause) or type(cause).__name__)
        text = f"Sorry, that didn't work: {redact(reason)}"
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except Exception as exc:  # e.g. Discord unreachable: logged here, never leaked
            log.warning("could not tell the user /%s failed: %s",
                        interaction.command.name if interaction.command else "?",
                        redact(f"{type(exc).__name__}: {exc}"))


CogFactory = Callable[["HomecrewBot"], commands.Cog]
CogLoader = Callable[["HomecrewBot"], Awaitable[None]]


class HomecrewBot(commands.Bot):
    """``load_cogs`` adds the bot's cogs (the composition root passes :func:`cogs.load_cogs`:
    this package never imports ``cogs``); ``extra_cogs`` are added after them."""

    def __init__(self, ctx: BotContext, *, load_cogs: CogLoader | None = None,
                 extra_cogs: Sequence[CogFactory] = ()) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned, intents=bot_intents(), help_command=None,
            allowed_mentions=discord.AllowedMentions.none(), tree_cls=HomecrewTree,
        )
        self.ctx = ctx
        self._load_cogs = load_cogs
        self.extra_cogs = tuple(extra_cogs)
        settings = ctx.settings
        self.command_sync = CommandSync(
            self.tree, self.guilds_served,
            Backoff(settings.command_sync_retry_initial, settings.command_sync_retry_max),
            record=ctx.stack.settings.data_dir / RECORD_NAME)
        self.gateway = GatewaySupervisor(
            self, backoff=Backoff(settings.reconnect_initial_delay, settings.reconnect_max_delay),
            crashes=CrashCounter(settings.max_gateway_crashes, settings.crash_window))
        guard_parsers(self._connection.parsers, self.gateway.connected)
        self._seen: OrderedDict[int, None] = OrderedDict()
        self.answerers: dict[str, Answer] = {}  # agent → its cog's answer (cogs register)
        self._warmup: asyncio.Task[None] | None = None
        self.gate_feed = GateFeed(self)  # started once ready; stopped on close
        self.catch_up = CatchUp(self)  # on each fresh session: answers what was missed

    @property
    def guilds_served(self) -> list[discord.Object]:
        return [discord.Object(g) for g in self.ctx.settings.guild_ids]

    # -- start-up ---------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        if self._load_cogs is not None:
            await self._load_cogs(self)
        for factory in self.extra_cogs:
            await self.add_cog(factory(self), guilds=self.guilds_served)
        self.add_dynamic_items(GateButton)
        await self.gate_feed.prepare()
        self.command_sync.start()  # once per process; a failure is retried, never fatal
        await self.command_sync.first_attempt(_FIRST_SYNC_WAIT_S)

    async def connect(self, *, reconnect: bool = True) -> None:
        """discord.py's connect loop, supervised (:mod:`bot.gateway`)."""
        await self.gateway.run(reconnect=reconnect)

    async def on_ready(self) -> None:
        if self._warmup is None or self._warmup.done():
            self._warmup = asyncio.create_task(self._prepare_webhooks(), name="webhook-warmup")
        self.gate_feed.start()  # idempotent: reconnects do not restart it
        self.catch_up.start()  # a READY (not RESUMED): nothing sent meanwhile is replayed
        if self.ctx.watch is not None and self.ctx.start_watch_when_ready:
            await self.ctx.watch.start()  # idempotent: reconnects do not restart it

    async def _prepare_webhooks(self) -> None:
        """Create (or find) the agent channels' webhooks before the first reply needs them."""
        for guild_id in self.ctx.settings.guild_ids:
            guild = self.get_guild(guild_id)
            if guild is None:
                continue
            for agent in self.ctx.channels.by_agent:
                channel = self.ctx.channels.find(guild, agent)
                if channel is not None:
                    await self.ctx.webhooks.prepare(channel)

    async def close(self) -> None:
        self.gateway.stop()
        await self.command_sync.stop()
        await self.catch_up.stop()
        await self.gate_feed.stop(self.ctx.settings.shutdown_grace)
        await self.ctx.tracker.shutdown(self.ctx.settings.shutdown_grace)
        if self._warmup is not None:
            self._warmup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._warmup
        await super().close()

    def discord_status(self) -> list[str]:
        """For /status: the slash commands (synced, or why not) and gateway errors."""
        lines = [f"slash commands {self.command_sync.describe()}"]
        if self.gateway.crash_count:
            lines.append(f"gateway: {self.gateway.crash_count} unexpected error(s) since "
                         f"start, last {self.gateway.last_crash}")
        return lines

    # -- messages ---------------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        """Hand a person's message to the agent it is for (its cog answers), once.

        Text commands are off: nothing typed in a channel runs a command.
        """
        if self.accepts(message):  # (answers note their own posts: bot.references)
            self.ctx.activity.saw(message.channel.id, message.id)
        agent = self.agent_for(message)
        answer = self.answerers.get(agent) if agent is not None else None
        if answer is not None and self.claim(message.id):
            await answer(message)
            self.catch_up.remember(message)

    def accepts(self, message: discord.Message) -> bool:
        """A person's message in a served guild (not ours, not a webhook's, not a bot's)."""
        if message.guild is None or message.guild.id not in self.ctx.settings.guild_ids:
            return False
        if message.webhook_id is not None or message.author.bot:
            return False
        return self.user is None or message.author.id != self.user.id

    def claim(self, message_id: int) -> bool:
        """True the first time a message is seen (a replayed dispatch is not answered twice)."""
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)
        return True

    def claimed(self, message_id: int) -> bool:
        return message_id in self._seen

    def agent_for(self, message: discord.Message) -> str | None:
        if not self.accepts(message):
            return None
        return agent_for(self.ctx, message, self.user)
