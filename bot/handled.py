"""Which people's messages the bot has taken up, kept in the store (``bot_handled_messages``)
so that nothing is answered twice, even across restarts, and so a catch-up knows where the
bot left off in each channel or thread.

A message is *answered* when the bot started its answer, *skipped* when a catch-up found
it too old to answer. Rows older than :data:`KEEP_S` are dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Literal

from store import Database, Migration, apply_migrations

__all__ = ["HANDLED_COMPONENT", "HANDLED_MIGRATIONS", "KEEP_S", "HandledMessages", "Outcome"]

HANDLED_COMPONENT = "bot_handled"
HANDLED_MIGRATIONS = (
    Migration(1, """
        CREATE TABLE bot_handled_messages (
            message_id BIGINT PRIMARY KEY,
            place_id BIGINT NOT NULL,
            outcome TEXT NOT NULL,
            handled_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX bot_handled_by_place ON bot_handled_messages (place_id, message_id)
    """),
)
KEEP_S = 30 * 86_400.0
Outcome = Literal["answered", "skipped"]


class HandledMessages:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._ready = False
        self._lock = asyncio.Lock()

    async def _migrated(self) -> Database:
        if not self._ready:
            async with self._lock:
                if not self._ready:
                    await apply_migrations(self._db, HANDLED_COMPONENT, HANDLED_MIGRATIONS)
                    self._ready = True
        return self._db

    async def add(self, place_id: int, message_ids: Iterable[int], outcome: Outcome) -> None:
        rows = [(m, place_id, outcome, self._clock()) for m in message_ids]
        if not rows:
            return
        db = await self._migrated()
        await db.executemany(
            "INSERT INTO bot_handled_messages (message_id, place_id, outcome, handled_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO NOTHING", rows)

    async def known(self, message_ids: Iterable[int]) -> set[int]:
        """Which of these messages were handled before."""
        wanted = sorted(set(message_ids))
        if not wanted:
            return set()
        db = await self._migrated()
        rows = await db.fetch(
            "SELECT message_id FROM bot_handled_messages WHERE message_id >= $1 AND "
            "message_id <= $2", wanted[0], wanted[-1])
        return {int(r["message_id"]) for r in rows} & set(wanted)

    async def newest(self, place_id: int) -> int | None:
        """The newest message handled in a channel or thread (where the bot left off)."""
        db = await self._migrated()
        value = await db.fetchval(
            "SELECT MAX(message_id) FROM bot_handled_messages WHERE place_id = $1", place_id)
        return None if value is None else int(value)

    async def prune(self) -> None:
        db = await self._migrated()
        await db.execute("DELETE FROM bot_handled_messages WHERE handled_at < $1",
                         self._clock() - KEEP_S)
