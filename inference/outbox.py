"""The ledger's local outbox: every finished record is on local disk before it goes on.

Why one SQLite file (``ledger.outbox_path``, default ``<data_dir>/ledger-outbox.sqlite3``)
rather than the JSON-lines spill file it replaces:

* a commit is atomic: a crash leaves a whole row or none, never a truncated line that
  breaks every later reader;
* WAL journal with ``synchronous=NORMAL``: a committed row is in the operating system's
  hands when ``INSERT`` returns, so ``kill -9`` of the process loses nothing (a power cut
  may lose the last commits, never the file's consistency), and an append costs tens of
  microseconds, cheap enough to do as the reply finishes;
* SQLite's own file locks let any number of processes (CLI commands, the bot, a server)
  append to and drain the same file; a writer that finds it locked retries after
  ``asyncio.sleep`` (:class:`~store.SqliteDatabase`), never blocking the loop.

A row is one record as JSON plus its ``record_id``. Rows are deleted only after the store
committed them, and several processes may send the same row, so delivery is at least once;
the store's ``ON CONFLICT (record_id) DO NOTHING`` makes it exactly once. A row that does not
validate, or that the store refuses, moves to the ``quarantine`` table with the reason (and a
log warning), so it never blocks the rows after it. The JSON-lines spill file of earlier
versions is imported once; its unreadable lines are quarantined.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inference.records import LedgerRecord
from store import SqliteDatabase

__all__ = ["Outbox", "OutboxEntry", "OutboxState", "QuarantineSummary", "SpillImport",
           "inspect_outbox"]

log = logging.getLogger(__name__)

_SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        record_id TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        added_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        at REAL NOT NULL)""",
)
_APPEND = "INSERT OR IGNORE INTO outbox (record_id, payload, added_at) VALUES ($1, $2, $3)"
_QUARANTINE = ("INSERT OR IGNORE INTO quarantine (key, source, reason, payload, at) "
               "VALUES ($1, $2, $3, $4, $5)")
_DELETE = "DELETE FROM outbox WHERE seq = $1"
# Ids for legacy spill lines that carry none: derived from the line, so a second import of
# the same file (after a crash between import and unlink) is ignored, not doubled.
_SPILL_IDS = uuid.UUID("5b0f7d2e-4c1a-4f59-9a57-0c0de1ed9e55")


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    record: LedgerRecord


@dataclass(frozen=True, slots=True)
class QuarantineSummary:
    count: int = 0
    latest_reason: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxState:
    waiting: int
    quarantine: QuarantineSummary


@dataclass(frozen=True, slots=True)
class SpillImport:
    imported: int
    quarantined: int


@dataclass(frozen=True, slots=True)
class _Bad:
    key: str
    source: str
    reason: str
    payload: str


def payload(record: LedgerRecord) -> str:
    return json.dumps(record.to_json())


def _reason(exc: BaseException) -> str:
    text = "; ".join(line.strip() for line in str(exc).splitlines()[:4] if line.strip())
    return f"{type(exc).__name__}: {text}"[:300]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _parse(text: object) -> LedgerRecord:
    if not isinstance(text, str):
        raise TypeError(f"payload is {type(text).__name__}, not text")
    return LedgerRecord.from_json(json.loads(text))


class Outbox:
    """The outbox file: append, take in order, remove after delivery, quarantine."""

    def __init__(self, db: SqliteDatabase, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Outbox:
        """Open (creating it if needed); raises StoreError when the file is unusable."""
        db = await SqliteDatabase.open(path)
        try:
            async with db.transaction() as tx:  # one process creates the tables
                if int(await tx.fetchval("PRAGMA user_version")) < _SCHEMA_VERSION:
                    for statement in _SCHEMA:
                        await tx.execute(statement)
                    await tx.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    async def close(self) -> None:
        await self._db.close()

    def append_now(self, record: LedgerRecord) -> bool:
        """Append at once, without yielding; False when the file is busy (queue it)."""
        return self._db.execute_now(_APPEND, record.record_id, payload(record), time.time())

    async def append(self, records: Sequence[LedgerRecord]) -> None:
        """Append in one transaction (all or none); waits while another process writes."""
        now = time.time()
        await self._db.executemany(
            _APPEND, [(r.record_id, payload(r), now) for r in records])

    async def take(self, limit: int) -> list[OutboxEntry]:
        """Up to ``limit`` of the oldest rows; rows that do not validate are quarantined."""
        while True:
            rows = await self._db.fetch(
                "SELECT seq, payload FROM outbox ORDER BY seq LIMIT $1", limit)
            entries: list[OutboxEntry] = []
            bad: list[tuple[int, _Bad]] = []
            for row in rows:
                seq = int(row["seq"])
                try:
                    entries.append(OutboxEntry(seq, _parse(row["payload"])))
                except (ValueError, TypeError) as exc:
                    text = str(row["payload"])
                    bad.append((seq, _Bad(f"outbox:{seq}:{_digest(text)}",
                                          f"outbox row {seq}", _reason(exc), text)))
            if bad:
                await self._quarantine(bad)
            if entries or len(rows) < limit:
                return entries

    async def remove(self, entries: Sequence[OutboxEntry]) -> None:
        """Delete rows the store has committed."""
        await self._db.executemany(_DELETE, [(e.seq,) for e in entries])

    async def reject(self, entry: OutboxEntry, reason: str) -> None:
        """Quarantine a row the store refused."""
        text = payload(entry.record)
        await self._quarantine([(entry.seq, _Bad(f"outbox:{entry.seq}:{_digest(text)}",
                                                 f"outbox row {entry.seq} (store refused it)",
                                                 reason[:300], text))])

    async def pending(self) -> int:
        return int(await self._db.fetchval("SELECT COUNT(*) FROM outbox"))

    async def quarantined(self) -> QuarantineSummary:
        rows = await self._db.fetch(
            "SELECT (SELECT COUNT(*) FROM quarantine) AS n, "
            "(SELECT reason FROM quarantine ORDER BY seq DESC LIMIT 1) AS reason")
        return QuarantineSummary(int(rows[0]["n"]), rows[0]["reason"])

    async def import_spill(self, path: Path) -> SpillImport | None:
        """Move a legacy JSON-lines spill file into the outbox, then delete it.

        None when there is no such file. Lines that do not parse or validate (a line cut
        short by a crash, say) are quarantined; the others are imported, once.
        """
        read = await asyncio.to_thread(_read_spill, path)
        if read is None:
            return None
        records, bad = read
        now = time.time()
        async with self._db.transaction() as tx:
            await tx.executemany(_APPEND, [(r.record_id, payload(r), now) for r in records])
            await tx.executemany(_QUARANTINE,
                                 [(b.key, b.source, b.reason, b.payload, now) for b in bad])
        await asyncio.to_thread(path.unlink, missing_ok=True)
        log.warning("ledger: imported %d record(s) from the old spill file %s into %s",
                    len(records), path, self.path)
        for item in bad:
            log.warning("ledger: quarantined %s: %s", item.source, item.reason)
        return SpillImport(len(records), len(bad))

    async def _quarantine(self, items: Sequence[tuple[int, _Bad]]) -> None:
        now = time.time()
        async with self._db.transaction() as tx:
            await tx.executemany(_QUARANTINE,
                                 [(b.key, b.source, b.reason, b.payload, now) for _, b in items])
            await tx.executemany(_DELETE, [(seq,) for seq, _ in items])
        for _, item in items:
            log.warning("ledger: quarantined %s in %s: %s", item.source, self.path, item.reason)


async def inspect_outbox(path: Path) -> OutboxState | None:
    """Rows waiting and the quarantine, without draining; None when there is no outbox."""
    if not await asyncio.to_thread(path.exists):
        return None
    outbox = await Outbox.open(path)
    try:
        return OutboxState(await outbox.pending(), await outbox.quarantined())
    finally:
        await outbox.close()


def _read_spill(path: Path) -> tuple[list[LedgerRecord], list[_Bad]] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    records: list[LedgerRecord] = []
    bad: list[_Bad] = []
    for number, raw in enumerate(data.splitlines(), 1):
        text = raw.decode("utf-8", "replace")
        if not text.strip():
            continue
        try:
            records.append(_spill_record(raw))
        except (ValueError, TypeError) as exc:
            bad.append(_Bad(f"spill:{path.name}:{number}:{_digest(text)}",
                            f"spill file {path} line {number}", _reason(exc), text))
    return records, bad


def _spill_record(raw: bytes) -> LedgerRecord:
    text = raw.decode("utf-8")
    data = json.loads(text)
    if isinstance(data, dict) and not data.get("record_id"):
        data = {**data, "record_id": uuid.uuid5(_SPILL_IDS, text).hex}
    return LedgerRecord.from_json(data)
