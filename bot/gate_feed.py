"""Gates surface in Discord on their own: one live gate message per task.

A worker the bot owns follows the team's audit log (:class:`team.feed.TaskFeed`), so it
sees every task change, whichever process made it (the CLI, a click, a reply). For each
changed task it posts the task's gate message (:func:`bot.gates.gate_message`: the card
and the Approve / Request changes / Override buttons) in the owner's agent channel, or
edits the one it posted before — the buttons go when no gate remains, when the task is
shipped or cancelled. The message of each task and the feed's cursor are kept in the
database (``bot_gate_messages``, ``bot_gate_feed``), so a restart edits instead of
posting twice and catches up on changes made while the bot was away. A deleted message
is posted anew. Discord or store failures are logged (redacted) and the worker goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import discord

from bot.context import BotContext
from bot.gates import gate_message
from bot.posting import NO_PINGS
from inference.errors import StoreError
from store import Database, Migration, apply_migrations
from team.errors import TeamError, UnknownTask
from team.feed import TaskChange, TaskFeed, audit_head
from team.tasks import OPEN_STATES, Task

__all__ = ["GATE_COMPONENT", "GATE_MIGRATIONS", "Client", "GateFeed", "GateMessages", "PostedGate",
           "feed_interval"]

log = logging.getLogger(__name__)


class Client(Protocol):
    """What the gate feed needs of :class:`bot.client.HomecrewBot` (it is one)."""

    ctx: BotContext

    def get_guild(self, guild_id: int, /) -> discord.Guild | None: ...

GATE_COMPONENT = "bot_gates"
GATE_MIGRATIONS = (
    Migration(1, """
        CREATE TABLE bot_gate_messages (
            task_id INTEGER NOT NULL,
            guild_id BIGINT NOT NULL,
            channel_id BIGINT NOT NULL,
            message_id BIGINT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (task_id, guild_id)
        );
        CREATE TABLE bot_gate_feed (
            id INTEGER PRIMARY KEY,
            audit_seq BIGINT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )
    """),
)


def feed_interval(ctx: BotContext) -> float:
    """``team.task_feed_interval`` of the running set-up."""
    return ctx.engine.settings.task_feed_interval


@dataclass(frozen=True, slots=True)
class PostedGate:
    channel_id: int
    message_id: int


class GateMessages:
    """Which message shows each task's gate (per guild), and how far the feed has read."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def migrate(self) -> int:
        return await apply_migrations(self.db, GATE_COMPONENT, GATE_MIGRATIONS)

    async def get(self, task_id: int, guild_id: int) -> PostedGate | None:
        rows = await self.db.fetch(
            "SELECT channel_id, message_id FROM bot_gate_messages "
            "WHERE task_id = $1 AND guild_id = $2", task_id, guild_id)
        return PostedGate(int(rows[0]["channel_id"]), int(rows[0]["message_id"])) \
            if rows else None

    async def put(self, task_id: int, guild_id: int, posted: PostedGate) -> None:
        await self.db.execute(
            "INSERT INTO bot_gate_messages (task_id, guild_id, channel_id, message_id, "
            "updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (task_id, guild_id) DO "
            "UPDATE SET channel_id = excluded.channel_id, message_id = excluded.message_id, "
            "updated_at = excluded.updated_at",
            task_id, guild_id, posted.channel_id, posted.message_id, time.time())

    async def cursor(self) -> int | None:
        value = await self.db.fetchval("SELECT audit_seq FROM bot_gate_feed WHERE id = 1")
        return None if value is None else int(value)

    async def save_cursor(self, audit_seq: int) -> None:
        await self.db.execute(
            "INSERT INTO bot_gate_feed (id, audit_seq, updated_at) VALUES (1, $1, $2) "
            "ON CONFLICT (id) DO UPDATE SET audit_seq = excluded.audit_seq, "
            "updated_at = excluded.updated_at", audit_seq, time.time())


# What showing a gate can run into: the store, the task board, Discord, the network.
_FAILURES = (StoreError, TeamError, discord.DiscordException, OSError, TimeoutError)


class _Unavailable(Exception):
    """The store did not answer (already logged)."""


class GateFeed:
    """The bot's worker keeping one gate message per task up to date."""

    def __init__(self, bot: Client, *, interval: float | None = None) -> None:
        self._bot = bot
        self.interval = interval if interval is not None else feed_interval(bot.ctx)
        self.messages = GateMessages(bot.ctx.engine.board.db)
        self._task: asyncio.Task[None] | None = None
        self._feed: TaskFeed | None = None
        self._closing = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def prepare(self) -> None:
        """Fix where the feed starts (before the gateway connects: nothing made while the
        bot logs in is missed). A store failure is logged; the worker retries it."""
        if self._feed is None:
            with contextlib.suppress(_Unavailable):
                self._feed = await self._open_once()

    def start(self) -> None:
        """Start the worker (again only if it stopped); call once the guilds are ready."""
        if not self.running:
            self._closing = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="gate-feed")

    async def stop(self, grace: float = 5.0) -> None:
        """Let the gate being shown finish (so its message is remembered), at most
        ``grace`` seconds; then the worker is cancelled."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, grace)  # cancels it after the grace

    # -- the loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        feed = self._feed or await self._open()
        self._feed = feed
        while not self._closing.is_set():
            changes = await self._poll(feed)
            for task_id in dict.fromkeys(c.task_id for c in changes):
                if self._closing.is_set():
                    return  # the cursor is not saved: the rest is shown after a restart
                await self.refresh(task_id)
            if changes:
                await self._save(feed)
            if not feed.backlog:
                await self._pause()

    async def _pause(self) -> None:
        """Wait one interval (less when the bot closes)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.interval)

    async def _open(self) -> TaskFeed:
        """The feed from the stored cursor (else the log's end), once the store answers."""
        while True:
            try:
                return await self._open_once()
            except _Unavailable:
                await self._pause()

    async def _open_once(self) -> TaskFeed:
        try:
            await self.messages.migrate()
            stored, head = await self.messages.cursor(), await audit_head(self.messages.db)
            after = head if stored is None else min(stored, head)
            if stored is None:
                await self.messages.save_cursor(after)
        except _FAILURES as exc:
            self._warn("cannot start the gate feed", exc)
            raise _Unavailable from exc
        return TaskFeed(self.messages.db, interval=self.interval, after=after)

    async def _poll(self, feed: TaskFeed) -> list[TaskChange]:
        try:
            return await feed.poll()
        except _FAILURES as exc:
            self._warn("cannot read the audit log for task changes", exc)
            return []

    async def _save(self, feed: TaskFeed) -> None:
        if feed.cursor is None:
            return
        try:
            await self.messages.save_cursor(feed.cursor)
        except _FAILURES as exc:
            self._warn("cannot save the gate feed's cursor", exc)

    # -- one task ---------------------------------------------------------------------------
    async def refresh(self, task_id: int) -> None:
        """Post or edit the task's gate message in every served guild; never raises."""
        ctx = self._bot.ctx
        try:
            task = (await ctx.engine.board.file(task_id)).task
            embed, view = await gate_message(ctx, task_id)
        except UnknownTask:
            return
        except _FAILURES as exc:
            self._warn(f"cannot build the gate of task #{task_id}", exc)
            return
        for guild_id in ctx.settings.guild_ids:
            guild = self._bot.get_guild(guild_id)
            if guild is None:
                continue
            try:
                await self._show(guild, task, embed, view)
            except _FAILURES as exc:
                self._warn(f"cannot show the gate of task #{task_id}", exc)

    async def _show(self, guild: discord.Guild, task: Task, embed: discord.Embed,
                    view: discord.ui.View) -> None:
        known = await self.messages.get(task.id, guild.id)
        if known is not None and await self._edit(guild, known, embed, view):
            return
        if task.state not in OPEN_STATES:
            return  # a closed task's card is not posted anew
        channel = self._bot.ctx.channels.find(guild, task.owner)
        if channel is None:
            log.info("no channel for %s in guild %s: task #%s's gate is not shown",
                     task.owner, guild.id, task.id)
            return
        sent = await channel.send(embed=embed, view=view, allowed_mentions=NO_PINGS)
        await self.messages.put(task.id, guild.id, PostedGate(channel.id, sent.id))

    async def _edit(self, guild: discord.Guild, known: PostedGate, embed: discord.Embed,
                    view: discord.ui.View) -> bool:
        """Edit the message posted before; False when it (or its channel) is gone."""
        channel = guild.get_channel_or_thread(known.channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return False
        try:
            await channel.get_partial_message(known.message_id).edit(
                embed=embed, view=view, allowed_mentions=NO_PINGS)
        except discord.NotFound:
            log.info("the gate message %s was deleted: posting it anew", known.message_id)
            return False
        return True

    def _warn(self, what: str, exc: BaseException) -> None:
        log.warning("%s: %s", what, self._bot.ctx.redact(f"{type(exc).__name__}: {exc}"))
