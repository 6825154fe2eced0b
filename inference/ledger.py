"""The spend ledger: every attempt's tokens, cost and timings, written off the reply path.

``Ledger.record`` only appends to an in-memory buffer. A writer task drains it in batches.
While the database is unreachable, records stay buffered (at most ``buffer_size``; beyond
that the oldest are spilled to a local JSON-lines file) and are written when it comes back;
on shutdown whatever could not be written is spilled too, and replayed on the next start.
Writes are idempotent (``record_id`` primary key), so a replay never double-counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from inference.config import LedgerConfig
from inference.errors import StoreError, StoreUnavailable
from inference.records import LedgerRecord
from inference.store import Database, Migration, apply_migrations

__all__ = ["LEDGER_MIGRATIONS", "Ledger"]

log = logging.getLogger(__name__)

_COLUMNS = (
    "record_id", "ts", "day", "agent", "route", "node", "model", "upstream_model",
    "prompt_tokens", "completion_tokens", "cost_usd", "cloud_equivalent_usd", "latency_s",
    "ttft_s", "cache_hit", "fallback_depth", "outcome", "error", "cloud", "tokens_estimated",
)
LEDGER_MIGRATIONS = (
    Migration(1, """
        CREATE TABLE ledger (
            record_id TEXT PRIMARY KEY,
            ts DOUBLE PRECISION NOT NULL,
            day TEXT NOT NULL,
            agent TEXT,
            route TEXT NOT NULL,
            node TEXT NOT NULL,
            model TEXT NOT NULL,
            upstream_model TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cost_usd DOUBLE PRECISION NOT NULL,
            cloud_equivalent_usd DOUBLE PRECISION NOT NULL,
            latency_s DOUBLE PRECISION NOT NULL,
            ttft_s DOUBLE PRECISION,
            cache_hit BOOLEAN NOT NULL,
            fallback_depth INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            error TEXT,
            cloud BOOLEAN NOT NULL,
            tokens_estimated BOOLEAN NOT NULL
        );
        CREATE INDEX ledger_ts ON ledger (ts);
        CREATE INDEX ledger_day ON ledger (day)
    """),
)
_INSERT = (
    f"INSERT INTO ledger ({', '.join(_COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}) "
    "ON CONFLICT (record_id) DO NOTHING"
)
_MAX_BACKOFF = 5.0


def _row(record: LedgerRecord) -> tuple[object, ...]:
    return (
        record.record_id, record.ts, record.day, record.agent, record.route, record.node,
        record.model, record.upstream_model, record.prompt_tokens, record.completion_tokens,
        record.cost_usd, record.cloud_equivalent_usd, record.latency_s, record.ttft_s,
        record.cache_hit, record.fallback_depth, record.outcome, record.error, record.cloud,
        record.tokens_estimated,
    )


class Ledger:
    """A ``RecordSink`` that persists to a :class:`Database` opened lazily by ``opener``."""

    def __init__(
        self,
        opener: Callable[[], Awaitable[Database]],
        config: LedgerConfig,
        spill_path: Path,
    ) -> None:
        self._opener = opener
        self._config = config
        self._spill = spill_path
        self._pending: deque[LedgerRecord] = deque()
        self._db: Database | None = None
        self._connecting = asyncio.Lock()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._backoff = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self.last_error: str | None = None
        self.written = 0

    # -- the sink ---------------------------------------------------------------------------
    def record(self, record: LedgerRecord) -> None:
        self._pending.append(record)
        self._idle.clear()
        if len(self._pending) > self._config.buffer_size:
            overflow = len(self._pending) - self._config.buffer_size // 2
            self._spill_records([self._pending.popleft() for _ in range(overflow)])
        if len(self._pending) >= self._config.batch_size:
            self._wake.set()

    @property
    def backlog(self) -> int:
        """Records not yet in the database (buffered plus spilled)."""
        return len(self._pending) + self._spilled_count()

    @property
    def database(self) -> Database | None:
        return self._db

    # -- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> Ledger:
        self._task = asyncio.create_task(self._run(), name="ledger-writer")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._closing = True
            self._wake.set()
            try:  # let the writer finish what it is doing (e.g. opening the database)
                async with asyncio.timeout(5):
                    await asyncio.shield(self._task)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        with contextlib.suppress(TimeoutError, StoreError):
            async with asyncio.timeout(5):
                await self._drain()
        if self._pending:
            self._spill_records(list(self._pending))
            self._pending.clear()
        if self._db is not None:
            with contextlib.suppress(StoreError, OSError):
                await self._db.close()
            self._db = None

    async def wait_until(self, predicate: Callable[[Ledger], bool]) -> None:
        """Wait until ``predicate(ledger)`` holds, re-checked after every write or failure."""
        while not predicate(self):
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def flush(self) -> None:
        """Wait until every buffered and spilled record is in the database."""
        while self.backlog:
            self._wake.set()
            self._idle.clear()
            await self._idle.wait()

    # -- the writer -------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain()
                self._backoff = 0.0
                self.last_error = None
            except StoreError as exc:
                await self._trouble(exc)
            if not self.backlog or self._closing:
                self._idle.set()

    async def _trouble(self, exc: StoreError) -> None:
        if self.last_error is None:
            log.warning("ledger database unavailable, buffering records: %s", exc)
        self.last_error = str(exc)
        self._notify()
        if isinstance(exc, StoreUnavailable) and self._db is not None:
            db, self._db = self._db, None  # start afresh: no half-broken connections
            with contextlib.suppress(StoreError, OSError):
                await db.close()
        self._idle.set()  # let flush() callers re-check instead of hanging
        self._backoff = min(_MAX_BACKOFF, max(0.1, self._backoff * 2))
        with contextlib.suppress(TimeoutError):  # a back-off that closing cuts short
            async with asyncio.timeout(self._backoff):
                while not self._closing:
                    await self._wake.wait()
                    self._wake.clear()

    async def _drain(self) -> None:
        if not self._pending and not self._spilled_count():
            return
        db = await self._connect()
        await self._replay_spill(db)
        while self._pending:
            batch = [self._pending[i] for i in range(min(len(self._pending),
                                                        self._config.batch_size))]
            await self._write(db, batch)
            for _ in batch:
                self._pending.popleft()

    async def connect(self) -> Database:
        """The database, opened (and migrated) on first use."""
        return await self._connect()

    async def _connect(self) -> Database:
        async with self._connecting:
            if self._db is None:
                try:
                    async with asyncio.timeout(10):
                        db = await self._opener()
                        await apply_migrations(db, "ledger", LEDGER_MIGRATIONS)
                except TimeoutError as exc:
                    raise StoreUnavailable("database did not answer within 10s") from exc
                self._db = db
            return self._db

    async def _write(self, db: Database, batch: Sequence[LedgerRecord]) -> None:
        try:
            async with asyncio.timeout(10):
                await db.executemany(_INSERT, [_row(r) for r in batch])
        except TimeoutError as exc:
            raise StoreError("ledger write timed out") from exc
        self.written += len(batch)
        self._notify()

    # -- spill file -------------------------------------------------------------------------
    def _replaying_path(self) -> Path:
        return self._spill.with_name(self._spill.name + ".replaying")

    def _spilled_count(self) -> int:
        return sum(_count_lines(p) for p in (self._spill, self._replaying_path()))

    def _spill_records(self, records: Sequence[LedgerRecord]) -> None:
        self._spill.parent.mkdir(parents=True, exist_ok=True)
        with self._spill.open("a", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record.to_json()) + "\n")
        log.warning("ledger: spilled %d record(s) to %s", len(records), self._spill)

    async def _replay_spill(self, db: Database) -> None:
        replaying = self._replaying_path()
        if not replaying.exists():
            if not self._spill.exists():
                return
            self._spill.replace(replaying)
        lines = replaying.read_text(encoding="utf-8").splitlines()
        records = [LedgerRecord.from_json(json.loads(line)) for line in lines if line.strip()]
        for start in range(0, len(records), self._config.batch_size):
            await self._write(db, records[start:start + self._config.batch_size])
        replaying.unlink()


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0
