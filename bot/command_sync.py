"""Registering the slash commands with Discord: once per process, and never fatal.

A refused sync (4xx, 5xx, 429, an answer discord.py cannot read, no network) leaves the
bot answering messages: one warning says what Discord answered, and the sync is tried
again with back-off (``discord.command_sync_retry_initial`` doubling up to
``discord.command_sync_retry_max``, 10 minutes by default) until it goes through.
``/status`` shows the outcome (:attr:`CommandSync.problem`); it is also written to
``<data_dir>/discord-commands.json`` (:data:`RECORD_NAME`), where ``homecrew doctor``
reads why the commands are not synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord import app_commands

from bot.backoff import Backoff

__all__ = ["RECORD_NAME", "CommandSync", "SyncRecord", "describe_sync_error", "read_record"]

log = logging.getLogger(__name__)
_MAX_REASON = 300
RECORD_NAME = "discord-commands.json"


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """The bot's last sync attempt, as ``homecrew doctor`` reads it."""

    synced: bool
    problem: str | None
    attempts: int
    at: float  # epoch seconds

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")


def read_record(path: Path) -> SyncRecord | None:
    """The record at ``path``, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SyncRecord(bool(data["synced"]), data.get("problem"), int(data["attempts"]),
                          float(data["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe_sync_error(exc: BaseException) -> str:
    """What Discord answered, in one line (its status, error code and message)."""
    if isinstance(exc, discord.HTTPException):
        text = (exc.text or "").strip() or "no message"
        code = f", code {exc.code}" if exc.code else ""
        reason = f"Discord answered {exc.status}{code}: {text}"
    elif isinstance(exc, discord.RateLimited):
        reason = f"Discord rate-limited the sync for {exc.retry_after:.0f} s"
    elif isinstance(exc, (aiohttp.ClientError, OSError, TimeoutError)):
        reason = f"Discord could not be reached ({type(exc).__name__})"
    elif isinstance(exc, (KeyError, TypeError, ValueError)):
        reason = f"Discord's answer could not be read ({type(exc).__name__}: {exc})"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    reason = " ".join(reason.split())
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"


class CommandSync:
    """The owned task that syncs ``tree`` to ``guilds`` until it succeeds once."""

    def __init__(self, tree: app_commands.CommandTree[Any], guilds: Sequence[discord.Object],
                 backoff: Backoff, *, record: Path | None = None) -> None:
        self._tree = tree
        self._record = record
        self._guilds = tuple(guilds)
        self._backoff = backoff
        self._task: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()
        self.synced = False
        self.attempts = 0
        self.problem: str | None = None  # why the last attempt failed, while not synced

    def start(self) -> None:
        """Start syncing (idempotent: a reconnect does not sync again)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="command-sync")

    async def first_attempt(self, timeout: float) -> None:  # noqa: ASYNC109
        """Until the first attempt has an answer, or ``timeout`` seconds (it goes on then)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._tried.wait()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def describe(self) -> str:
        """For /status: synced, or not yet and why."""
        if self.synced:
            return "synced"
        if self.problem is None:
            return "not synced yet (first attempt in progress)"
        return f"not synced: {self.problem} (retrying)"

    async def _run(self) -> None:
        while not await self._attempt():
            self._tried.set()
            await asyncio.sleep(self._backoff.delay())
        self._tried.set()

    async def _attempt(self) -> bool:
        self.attempts += 1
        try:
            for guild in self._guilds:
                await self._tree.sync(guild=guild)
        except Exception as exc:  # whatever went wrong, the bot keeps answering messages
            reason = describe_sync_error(exc)
            if reason != self.problem:
                log.warning("slash commands not synced: %s; the bot answers messages "
                            "meanwhile and retries the sync with back-off", reason)
            else:
                log.info("slash commands still not synced (attempt %d): %s",
                         self.attempts, reason)
            self.problem = reason
            self._save()
            return False
        if self.problem is not None:
            log.info("slash commands synced (attempt %d)", self.attempts)
        self.synced, self.problem = True, None
        self._save()
        return True

    def _save(self) -> None:
        if self._record is None:
            return
        try:
            SyncRecord(self.synced, self.problem, self.attempts, time.time()).save(self._record)
        except OSError as exc:
            log.debug("cannot write %s: %s", self._record, exc)
