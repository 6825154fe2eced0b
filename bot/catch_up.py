"""Answer what people said while the bot was away.

Each time the gateway session starts afresh (after a restart, and after a reconnect that
could not resume, when Discord replays nothing), the bot reads the history of every agent
channel and of their active threads since it left off there (the newest message it
handled in that place, at most :data:`LOOKBACK_S` back; in a place it never handled a
message in, the window). Every message from a person in it that the bot has not taken
up (:class:`~bot.handled.HandledMessages`, the in-memory claim) and that no answer of the
bot points at:

* younger than ``discord.catch_up_window`` (default 10 minutes): answered once, oldest
  first, exactly as if it had just arrived;
* older: not answered; the agent says once in that place how many it missed.

Both kinds are recorded as handled, so a second restart answers and notes nothing again.
A failure to read the history or the store is logged and that place is left for the next
catch-up; the bot goes on either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import discord

from bot.channels import Place
from bot.context import BotContext
from bot.handled import HandledMessages
from bot.reply import Answer, start_note
from inference.errors import StoreError

__all__ = ["LOOKBACK_S", "CatchUp", "Client", "missed_note"]

log = logging.getLogger(__name__)


class Client(Protocol):
    """What catching up needs of :class:`bot.client.HomecrewBot` (it is one)."""

    ctx: BotContext
    answerers: dict[str, Answer]

    def get_guild(self, guild_id: int, /) -> discord.Guild | None: ...

    def accepts(self, message: discord.Message) -> bool: ...

    def claim(self, message_id: int) -> bool: ...

    def claimed(self, message_id: int) -> bool: ...

    def agent_for(self, message: discord.Message) -> str | None: ...

LOOKBACK_S = 86_400.0
SCAN_MAX = 500  # messages read per place at most
_BEGIN_WAIT_S = 10.0
_RECORD_DELAY_S = 0.5  # answered ids are written in batches, off a burst's critical path
_JUMP = re.compile(r"discord(?:app)?\.com/channels/\d+/\d+/(\d+)")
_FAILURES = (discord.DiscordException, StoreError, OSError, TimeoutError)


@dataclass(slots=True)
class _Scan:
    place: Place
    agent: str
    young: list[discord.Message] = field(default_factory=list)
    old: list[discord.Message] = field(default_factory=list)


def missed_note(count: int, window_s: float) -> str:
    """The agent's note about messages too old to answer."""
    minutes = max(1, round(window_s / 60))
    things = "message" if count == 1 else "messages"
    return (f"I was away for a while and missed {count} {things} here from more than "
            f"{minutes} minute{'s' if minutes != 1 else ''} ago, so I haven't answered "
            f"{'it' if count == 1 else 'them'}. Ask again if you still need me.")


class CatchUp:
    """The bot's catch-up worker (one pass at a time; a READY during a pass asks for
    another)."""

    def __init__(self, bot: Client) -> None:
        self._bot = bot
        self.handled = HandledMessages(bot.ctx.engine.board.db)
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.passes = 0  # finished passes (tests and /status may look)
        self._pending: list[tuple[int, int]] = []  # (place, message) answered, not yet written
        self._writer: asyncio.Task[None] | None = None

    @property
    def window(self) -> float:
        return self._bot.ctx.settings.catch_up_window

    def start(self) -> None:
        """Catch up now (the session started afresh)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._run(), name="catch-up")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        await self._write()  # what was answered is remembered across the restart

    def remember(self, message: discord.Message) -> None:
        """Record (soon, in a batch) that the bot took ``message`` up."""
        self._pending.append((message.channel.id, message.id))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_soon(), name="handled-writer")

    async def _write_soon(self) -> None:
        await asyncio.sleep(_RECORD_DELAY_S)
        await self._write()

    async def _write(self) -> None:
        batch, self._pending = self._pending, []
        places: dict[int, list[int]] = {}
        for place, message_id in batch:
            places.setdefault(place, []).append(message_id)
        try:
            for place, ids in places.items():
                await self.handled.add(place, ids, "answered")
        except StoreError as exc:
            log.warning("cannot record %d answered message(s) (they may be answered again "
                        "after a restart): %s", len(batch), exc)

    # -- one pass ---------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self.run_once()
            except _FAILURES as exc:
                log.warning("catching up on missed messages failed: %s",
                            self._bot.ctx.redact(str(exc) or type(exc).__name__))
            self.passes += 1
            if not self._again:
                return

    async def run_once(self, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        scans: list[_Scan] = []
        for guild_id in self._bot.ctx.settings.guild_ids:
            guild = self._bot.get_guild(guild_id)
            if guild is not None:
                for place, agent in await self._places(guild):
                    scan = await self._scan(place, agent, moment)
                    if scan is not None:
                        scans.append(scan)
        young = sorted((m for s in scans for m in s.young), key=lambda m: m.id)
        for message in young:
            await self._answer(message)
        for scan in scans:
            if scan.old:
                await self._note(scan)
        with contextlib.suppress(*_FAILURES):
            await self.handled.prune()

    async def _places(self, guild: discord.Guild) -> list[tuple[Place, str]]:
        """The agent channels and their active threads."""
        channels = self._bot.ctx.channels
        found: list[tuple[Place, str]] = []
        for agent in channels.by_agent:
            channel = channels.find(guild, agent)
            if channel is not None:
                found.append((channel, agent))
        parents = {c.id: a for c, a in found}
        try:
            threads = await guild.active_threads()
        except discord.HTTPException as exc:
            log.warning("cannot list the active threads (%s %s): catching up in the channels "
                        "only", exc.code, exc.text)
            threads = list(guild.threads)
        found.extend((t, parents[t.parent_id]) for t in threads if t.parent_id in parents)
        return found

    async def _scan(self, place: Place, agent: str, now: float) -> _Scan | None:
        try:
            newest = await self.handled.newest(place.id)
            floor = now - (self.window if newest is None else LOOKBACK_S)
            after = max(newest or 0, discord.utils.time_snowflake(
                datetime.fromtimestamp(floor, UTC)))
            history = [m async for m in place.history(after=discord.Object(after),
                                                      limit=SCAN_MAX, oldest_first=True)]
            people = self._unanswered(history)
            known = await self.handled.known(m.id for m in people)
        except _FAILURES as exc:
            log.warning("cannot catch up in %s: %s", place.id,
                        self._bot.ctx.redact(str(exc) or type(exc).__name__))
            return None
        if history:  # an answer to an earlier one then says which message it answers
            self._bot.ctx.activity.saw(place.id, max(m.id for m in history))
        scan = _Scan(place, agent)
        for message in people:
            if message.id in known:
                continue
            young = message.created_at.timestamp() >= now - self.window
            (scan.young if young else scan.old).append(message)
        return scan

    def _unanswered(self, history: Sequence[discord.Message]) -> list[discord.Message]:
        """People's messages the bot has not claimed and no answer of its points at."""
        bot = self._bot
        pointed: set[int] = set()
        for message in history:
            if bot.accepts(message):
                continue
            if message.reference is not None and message.reference.message_id is not None:
                pointed.add(message.reference.message_id)
            pointed.update(int(m) for m in _JUMP.findall(message.content))
        return [m for m in history if bot.accepts(m) and m.id not in pointed
                and not bot.claimed(m.id)]

    async def _answer(self, message: discord.Message) -> None:
        bot = self._bot
        agent = bot.agent_for(message)
        answer = bot.answerers.get(agent) if agent is not None else None
        if answer is None or not bot.claim(message.id):
            return
        job = await answer(message)
        self.remember(message)
        if job is not None:  # the next one starts after this one's turn is taken
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_BEGIN_WAIT_S):
                    await job.begun.wait()

    async def _note(self, scan: _Scan) -> None:
        await self.handled.add(scan.place.id, [m.id for m in scan.old], "skipped")
        persona = self._bot.ctx.roster.get(scan.agent)
        start_note(self._bot.ctx, persona, scan.place, missed_note(len(scan.old), self.window))
