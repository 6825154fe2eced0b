"""Task changes as a feed, read from the audit log (Discord-free).

Every change to a task — by this process or another (the CLI, a second bot) — is written
to ``team_audit`` in the same transaction as the change itself, so polling the log after
a cursor sees them all, in order, once::

    feed = TaskFeed(db, interval=2.0)
    async for change in feed:           # TaskChange(task_id=3, action="signoff", ...)
        ...

One poll is one query on the log's primary key (``WHERE seq > $1``). The feed starts at
the log's current end (history is not replayed) unless given a cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass

from store import Database

__all__ = ["TASK_CHANGES", "TaskChange", "TaskFeed", "audit_head"]

# Audit actions that change a task (a "request" entry only records what was asked: an
# allowed one is followed by its "transition", a refused one changes nothing).
TASK_CHANGES: frozenset[str] = frozenset({
    "task_created", "transition", "signoff", "veto", "artifact", "override",
})
_PAGE = 500


@dataclass(frozen=True, slots=True)
class TaskChange:
    """One audit entry that changed a task."""

    audit_id: int  # the entry's ``seq``: increasing
    task_id: int
    action: str
    actor: str


async def audit_head(db: Database) -> int:
    """The id of the newest audit entry (0 when the log is empty)."""
    return int(await db.fetchval("SELECT COALESCE(MAX(seq), 0) FROM team_audit") or 0)


class TaskFeed:
    """Polls the audit log every ``interval`` seconds for task changes after a cursor."""

    def __init__(self, db: Database, *, interval: float = 2.0, after: int | None = None,
                 actions: Collection[str] = TASK_CHANGES, page: int = _PAGE) -> None:
        if interval <= 0:
            raise ValueError("the poll interval must be positive")
        self._db = db
        self.interval = interval
        self._cursor = after
        self._actions = frozenset(actions)
        self._page = max(1, int(page))
        self._full = False  # the last poll read a whole page: more may be waiting

    @property
    def cursor(self) -> int | None:
        """The id of the last audit entry read (None until the first poll or :meth:`start`)."""
        return self._cursor

    @property
    def backlog(self) -> bool:
        """The last poll read a whole page: more entries may be waiting already."""
        return self._full

    async def start(self) -> int:
        """Fix the cursor: the one given, else the log's current end."""
        if self._cursor is None:
            self._cursor = await audit_head(self._db)
        return self._cursor

    async def poll(self) -> list[TaskChange]:
        """The task changes logged since the cursor (oldest first); advances the cursor.

        Reads at most one page of entries; a longer backlog comes on the next polls.
        """
        after = await self.start()
        rows = await self._db.fetch(
            "SELECT seq, actor, action, task_id FROM team_audit WHERE seq > $1 "
            f"ORDER BY seq LIMIT {self._page}", after,
        )
        self._full = len(rows) >= self._page
        if not rows:
            return []
        self._cursor = int(rows[-1]["seq"])
        return [TaskChange(int(r["seq"]), int(r["task_id"]), str(r["action"]), str(r["actor"]))
                for r in rows if r["task_id"] is not None and r["action"] in self._actions]

    async def batches(self) -> AsyncIterator[list[TaskChange]]:
        """Each poll's changes (non-empty), polling every ``interval`` seconds.

        A backlog is read page after page without waiting. Errors from the store propagate
        (and end the iteration): a caller that must survive them calls :meth:`poll` itself.
        """
        while True:
            changes = await self.poll()
            if changes:
                yield changes
            if not self._full:
                await asyncio.sleep(self.interval)

    async def __aiter__(self) -> AsyncIterator[TaskChange]:
        async for batch in self.batches():
            for change in batch:
                yield change
