"""The spend ledger: every attempt's tokens, cost and timings, on local disk as it finishes.

``Ledger.record`` appends the record to the local outbox (:mod:`inference.outbox`, one
SQLite file shared by every homecrew process) at once when the file is free — tens of
microseconds, before the reply is handed back — and otherwise queues it for a task that
appends it within milliseconds. A drainer task moves outbox rows to the store in batches
(every ``flush_interval``, or at once when asked) and deletes them only after the store
committed them. Writes are idempotent (``record_id`` primary key, ``ON CONFLICT DO
NOTHING``), so a replay, or two processes sending the same row, never double-counts. While
the store is down rows simply wait in the outbox, for this process or any later one: every
process that opens a ledger drains what it finds, so a CLI command never has to wait for the
database (:meth:`Ledger.settle` gives it a short, bounded chance).

The SQLite store (no ``database_url``) goes through the outbox too: one path for both, and a
record is safe even while the store file is locked by a long transaction or unusable. Only
when the outbox itself cannot be written (a read-only data dir, a full disk) are records held
in memory (at most ``buffer_size``) and written to the store directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from inference.config import InferenceSettings, LedgerConfig
from inference.errors import StoreError, StoreRejected, StoreUnavailable
from inference.outbox import Outbox, OutboxEntry, QuarantineSummary
from inference.records import LedgerRecord
from store import Database, Migration, apply_migrations, open_database

__all__ = ["LEDGER_MIGRATIONS", "SETTLE_S", "Ledger", "outbox_path"]

log = logging.getLogger(__name__)

SETTLE_S = 1.0  # what a closing process gives the store before leaving rows for later
OPEN_OUTBOX_S = 5.0  # how long start-up waits for the outbox file (another process writing)
_MAX_BACKOFF = 5.0
_COLUMNS = (
    "record_id", "ts", "day", "agent", "route", "node", "model", "upstream_model",
    "prompt_tokens", "completion_tokens", "cost_usd", "cloud_equivalent_usd", "latency_s",
    "ttft_s", "cache_hit", "fallback_depth", "outcome", "error", "cloud", "tokens_estimated",
    "key_name",
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
    Migration(2, "ALTER TABLE ledger ADD COLUMN key_name TEXT"),
)
_INSERT = (
    f"INSERT INTO ledger ({', '.join(_COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}) "
    "ON CONFLICT (record_id) DO NOTHING"
)


def outbox_path(settings: InferenceSettings) -> Path:
    """Where the settings put the local outbox (``ledger.outbox_path``)."""
    path = settings.ledger.outbox_path or settings.data_dir / "ledger-outbox.sqlite3"
    return path.expanduser()


def _text(value: str | None) -> str | None:
    """Text every store takes: no NUL (PostgreSQL refuses it), no lone surrogate."""
    if value is None or (value.isascii() and "\x00" not in value):
        return value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _row(record: LedgerRecord) -> tuple[object, ...]:
    return (
        record.record_id, record.ts, record.day, _text(record.agent), _text(record.route),
        _text(record.node), _text(record.model), _text(record.upstream_model),
        record.prompt_tokens, record.completion_tokens, record.cost_usd,
        record.cloud_equivalent_usd, record.latency_s, record.ttft_s, record.cache_hit,
        record.fallback_depth, _text(record.outcome), _text(record.error), record.cloud,
        record.tokens_estimated, _text(record.key_name),
    )


class Ledger:
    """A ``RecordSink``: the local outbox at ``outbox_path``, drained into the store that
    ``opener`` opens (lazily). ``legacy_spill`` names an old spill file to import once."""

    def __init__(
        self,
        opener: Callable[[], Awaitable[Database]],
        config: LedgerConfig,
        outbox_path: Path,
        *,
        legacy_spill: Path | None = None,
    ) -> None:
        self._opener = opener
        self._config = config
        self.outbox_path = outbox_path
        self._legacy = [] if legacy_spill is None else [
            legacy_spill, legacy_spill.with_name(legacy_spill.name + ".replaying")]
        self._pending: deque[LedgerRecord] = deque()  # not yet in the outbox
        self._outbox: Outbox | None = None
        self._outbox_rows = 0  # rows in the outbox (any process's), as last seen
        self._outbox_error: str | None = None
        self._db: Database | None = None
        self._opening = asyncio.Lock()
        self._connecting = asyncio.Lock()
        self._stashing = asyncio.Lock()
        self._stash_wake = asyncio.Event()
        self._drain_wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._passes = 0
        self._backoff = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self.quarantine = QuarantineSummary()
        self.last_error: str | None = None
        self.written = 0
        self.dropped = 0

    @classmethod
    def for_settings(cls, settings: InferenceSettings) -> Ledger:
        """The ledger the settings describe (store, outbox and legacy spill paths)."""
        config = settings.ledger
        data_dir = settings.data_dir.expanduser()

        async def opener() -> Database:
            return await open_database(config.database_url, settings.data_dir)

        spill = (config.spill_path or data_dir / "ledger.spill.jsonl").expanduser()
        return cls(opener, config, outbox_path(settings), legacy_spill=spill)

    # -- the sink ---------------------------------------------------------------------------
    def record(self, record: LedgerRecord) -> None:
        if not self._pending and self._outbox is not None and self._append_now(record):
            return
        self._pending.append(record)
        if self._outbox_error is not None and len(self._pending) > self._config.buffer_size:
            self._pending.popleft()
            self.dropped += 1
            log.error("ledger: neither the outbox (%s) nor the store can be written; "
                      "%d record(s) dropped", self._outbox_error, self.dropped)
        self._stash_wake.set()

    def _append_now(self, record: LedgerRecord) -> bool:
        assert self._outbox is not None
        try:
            if not self._outbox.append_now(record):
                return False
        except StoreError as exc:
            log.warning("ledger: outbox append failed, queued instead: %s", exc)
            return False
        self._outbox_rows += 1
        if self._outbox_rows >= self._config.batch_size:
            self._drain_wake.set()
        return True

    @property
    def backlog(self) -> int:
        """Records not yet in the store: queued here plus waiting in the outbox."""
        return len(self._pending) + self._outbox_rows

    @property
    def database(self) -> Database | None:
        return self._db

    # -- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> Ledger:
        # The outbox is open before the first record can come, so a record is on disk the
        # moment its reply has finished, even in a process killed right after a first, fast
        # reply. If it cannot be opened now, records queue and the stash loop keeps trying.
        with contextlib.suppress(StoreError, TimeoutError):
            async with asyncio.timeout(OPEN_OUTBOX_S):
                await self._open_outbox()
        self._tasks = [asyncio.create_task(self._stash_loop(), name="ledger-outbox"),
                       asyncio.create_task(self._drain_loop(), name="ledger-drain")]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.settle()
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._tasks = []
            await self._last_resort()
            await self._close_handles()

    async def settle(self, budget: float = SETTLE_S) -> bool:
        """Put every record so far in the outbox, then give the store up to ``budget``
        seconds to take the backlog — none when it is known to be down. True when nothing
        is left waiting; what is left stays in the outbox for the next process."""
        with contextlib.suppress(StoreError):
            await self._stash()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(budget):
                while self.last_error is None and (self.backlog or not self._passes):
                    await self._drain_pass()
        return not self.backlog

    async def flush(self) -> None:
        """Wait until every record so far is in the store (bound it with a timeout)."""
        while True:
            with contextlib.suppress(StoreError):  # the drainer writes them directly then
                await self._stash()
            await self._drain_pass()
            if not self.backlog:
                return

    async def _drain_pass(self) -> None:
        """Ask the drainer for a pass now (unless it is backing off) and wait for one."""
        passes, changed = self._passes, self._changed
        self._drain_wake.set()
        while self._passes <= passes:
            await changed.wait()
            changed = self._changed

    async def wait_until(self, predicate: Callable[[Ledger], bool]) -> None:
        """Wait until ``predicate(ledger)`` holds, re-checked after every drain pass."""
        while not predicate(self):
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def connect(self) -> Database:
        """The store, opened (and migrated) on first use."""
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

    # -- pending → outbox -------------------------------------------------------------------
    async def _open_outbox(self) -> Outbox:
        async with self._opening:
            if self._outbox is None:
                outbox = await Outbox.open(self.outbox_path)
                for path in self._legacy:
                    try:
                        await outbox.import_spill(path)
                    except OSError as exc:
                        log.warning("ledger: cannot read the old spill file %s: %s", path, exc)
                self._outbox = outbox
                self._outbox_error = None
            return self._outbox

    async def _stash(self) -> None:
        """Append every queued record to the outbox (raises StoreError if it cannot)."""
        if not self._pending:
            return
        outbox = await self._open_outbox()
        async with self._stashing:
            while self._pending:
                batch = list(itertools.islice(self._pending, self._config.batch_size))
                await outbox.append(batch)
                for _ in batch:
                    self._pending.popleft()
                self._outbox_rows += len(batch)
        self._outbox_error = None
        self._drain_wake.set()

    async def _stash_loop(self) -> None:
        backoff = 0.0
        while True:
            await self._stash_wake.wait()
            self._stash_wake.clear()
            try:
                await self._stash()
                backoff = 0.0
            except Exception as exc:  # the task must outlive any failure
                if not isinstance(exc, StoreError):
                    log.exception("ledger: unexpected error writing the outbox")
                if self._outbox_error is None:
                    log.warning("ledger: the outbox %s cannot be written, records wait in "
                                "memory: %s", self.outbox_path, exc)
                self._outbox_error = str(exc)
                self._drain_wake.set()  # the drainer sends them to the store directly
                backoff = min(_MAX_BACKOFF, max(0.1, backoff * 2))
                await asyncio.sleep(backoff)
                self._stash_wake.set()

    # -- outbox → store ---------------------------------------------------------------------
    async def _drain_loop(self) -> None:
        while True:
            try:
                await self._drain()
                self._backoff = 0.0
                self.last_error = None
            except StoreError as exc:
                await self._trouble(exc)
            except Exception as exc:  # the task must outlive any failure
                log.exception("ledger: unexpected error draining the outbox")
                await self._trouble(StoreError(f"{type(exc).__name__}: {exc}"))
            self._passes += 1
            self._notify()
            if self._backoff:  # no wake-up cuts a back-off short: no hammering a dead store
                await asyncio.sleep(self._backoff)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.flush_interval):
                    await self._drain_wake.wait()
            self._drain_wake.clear()

    async def _drain(self) -> None:
        try:
            outbox = await self._open_outbox()
        except StoreError as exc:
            self._outbox_error = str(exc)
            await self._send_pending()
            return
        try:
            while entries := await outbox.take(self._config.batch_size):
                await self._send(await self.connect(), outbox, entries)
                await outbox.remove(entries)
        except StoreError:
            await self._recount(outbox)
            raise
        await self._recount(outbox)
        if self._outbox_error is not None:  # opened once, but appends fail now
            await self._send_pending()

    async def _recount(self, outbox: Outbox) -> None:
        with contextlib.suppress(StoreError):
            self._outbox_rows = await outbox.pending()
            self.quarantine = await outbox.quarantined()

    async def _send(self, db: Database, outbox: Outbox, entries: Sequence[OutboxEntry]) -> None:
        try:
            await self._write(db, [e.record for e in entries])
        except StoreRejected:  # find the row(s) the store refuses; send the others
            for entry in entries:
                try:
                    await self._write(db, [entry.record])
                except StoreRejected as exc:
                    await outbox.reject(entry, str(exc))

    async def _send_pending(self) -> None:
        """Without an outbox: queued records straight to the store."""
        async with self._stashing:
            while self._pending:
                batch = list(itertools.islice(self._pending, self._config.batch_size))
                try:
                    await self._write(await self.connect(), batch)
                except StoreRejected as exc:
                    log.error("ledger: the store refused %d record(s), dropped: %s",
                              len(batch), exc)
                    self.dropped += len(batch)
                for _ in batch:
                    self._pending.popleft()

    async def _write(self, db: Database, batch: Sequence[LedgerRecord]) -> None:
        try:
            async with asyncio.timeout(10):
                await db.executemany(_INSERT, [_row(r) for r in batch])
        except TimeoutError as exc:
            raise StoreUnavailable("ledger write timed out") from exc
        self.written += len(batch)

    async def _trouble(self, exc: StoreError) -> None:
        if self.last_error is None:
            log.warning("ledger: store unavailable, records wait in the outbox %s: %s",
                        self.outbox_path, exc)
        self.last_error = str(exc)
        if isinstance(exc, StoreUnavailable) and self._db is not None:
            db, self._db = self._db, None  # start afresh: no half-broken connections
            with contextlib.suppress(StoreError, OSError):
                await db.close()
        self._backoff = min(_MAX_BACKOFF, max(0.1, self._backoff * 2))

    # -- closing ----------------------------------------------------------------------------
    async def _last_resort(self) -> None:
        """Records the outbox never took: into it now, else the store, else say so."""
        with contextlib.suppress(StoreError):
            await self._stash()
        if self._pending:
            with contextlib.suppress(StoreError, TimeoutError):
                async with asyncio.timeout(SETTLE_S):
                    await self._send_pending()
        if self._pending:
            log.error("ledger: %d record(s) lost: the outbox %s cannot be written (%s) and "
                      "the store is unreachable (%s)", len(self._pending), self.outbox_path,
                      self._outbox_error, self.last_error)

    async def _close_handles(self) -> None:
        outbox, self._outbox = self._outbox, None
        if outbox is not None:
            with contextlib.suppress(StoreError):
                await outbox.close()
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(StoreError, OSError):
                await db.close()
