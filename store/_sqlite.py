"""SQLite, run on the event loop's own thread.

Statements here are small (a row or a page of rows) and take tens of microseconds in WAL
mode with ``synchronous=NORMAL`` (no fsync per commit). Running them inline is far
cheaper than handing each one to a worker thread: under load every hand-off waits for the
GIL (up to the 5 ms switch interval), and with one connection those waits queue up behind
each other. SQLite's own busy wait would block the loop, so it is off (``busy_timeout=0``);
a statement that finds the database locked by another process is retried here, with
``asyncio.sleep`` between attempts, for up to ``busy_timeout`` seconds (default
:data:`BUSY_TIMEOUT_S`), then fails with :class:`~inference.errors.StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import itertools
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from store._base import Database, Dialect, Row
from store.errors import StoreError, StoreRejected, StoreUnavailable

__all__ = ["BUSY_TIMEOUT_S", "SqliteDatabase"]

BUSY_TIMEOUT_S = 5.0
_PLACEHOLDER = re.compile(r"\$(\d+)")
_T = TypeVar("_T")
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
# The file or its disk, not the statement: callers buffer and retry (a syntax error,
# missing table or constraint violation is a plain StoreError and would fail again).
_UNAVAILABLE = _BUSY | {sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
                        sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL}
# Raised by the sqlite3 module for a value it cannot bind (an int beyond 64 bits, a str
# with a lone surrogate): the data, like a constraint violation.
_BAD_VALUE = (OverflowError, UnicodeEncodeError)


@functools.lru_cache(maxsize=512)
def _sql(text: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", text)


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    if code is None:
        return isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc))
    return code in _BUSY


def _is_unavailable(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    return _is_busy(exc) if code is None else code in _UNAVAILABLE


class SqliteDatabase:
    """One ``sqlite3`` connection in autocommit mode; WAL journal; ``$n`` placeholders.

    Statements from different tasks are serialised by one :class:`asyncio.Lock`, which a
    transaction holds from ``BEGIN`` to ``COMMIT``; statements issued by the transaction's
    own task (or tasks it spawns while it is open) run inside it. A nested
    :meth:`transaction` is a savepoint.
    """

    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, path: Path, *,
                 busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self._conn = conn
        self._path = path
        self._busy_timeout = busy_timeout
        self._lock = asyncio.Lock()
        self._tx: object | None = None  # marks the open transaction
        self._in_tx: contextvars.ContextVar[object | None] = contextvars.ContextVar(
            f"sqlite-tx-{id(self)}", default=None
        )
        self._savepoints = itertools.count(1)
        self.description = f"sqlite:{path}"

    @classmethod
    async def open(cls, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> SqliteDatabase:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        db = cls(conn, path, busy_timeout=busy_timeout)
        try:
            # The first statement reads the file: a non-database fails here, not in connect.
            await db._retry(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchall())
            # WAL + NORMAL: no fsync per commit; the database stays consistent on a crash
            # (a power cut may lose the last commits, which the ledger's spill file covers).
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
            raise
        return db

    async def execute(self, sql: str, *args: Any) -> None:
        text = _sql(sql)
        await self._statement(lambda: self._conn.execute(text, args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """All rows or none (like asyncpg): in autocommit mode each row would commit alone,
        and a retry after another process took the lock mid-way would insert some twice."""
        if not rows:
            return
        async with self.transaction(), self._mapped():
            self._conn.executemany(_sql(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        text = _sql(sql)
        rows = await self._statement(lambda: self._conn.execute(text, args).fetchall())
        return [dict(row) for row in rows]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return next(iter(rows[0].values())) if rows else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        if self._owns_tx():
            async with self._savepoint():
                yield self
            return
        async with self._lock, self._mapped():
            await self._retry(lambda: self._conn.execute("BEGIN IMMEDIATE"))
            self._tx = marker = object()
            token = self._in_tx.set(marker)
            try:
                try:
                    yield self
                finally:  # tasks spawned in the body stop counting as inside it
                    self._in_tx.reset(token)
                    self._tx = None
                await self._retry(lambda: self._conn.execute("COMMIT"))
            finally:
                self._abandon()

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.fetchval("SELECT 1")
        return time.perf_counter() - started

    async def close(self) -> None:
        async with self._lock:
            self._conn.close()

    def _owns_tx(self) -> bool:
        return self._tx is not None and self._in_tx.get() is self._tx

    def _abandon(self) -> None:
        """Roll back whatever is still open (the body raised or was cancelled, or COMMIT
        failed) so the connection never carries a transaction into the next statement."""
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # keep the original exception
                self._conn.execute("ROLLBACK")

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        name = f"homecrew_sp{next(self._savepoints)}"
        async with self._mapped():
            self._conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back everything
                    with contextlib.suppress(sqlite3.Error):  # keep the original exception
                        self._conn.execute(f"ROLLBACK TO {name}")
                        self._conn.execute(f"RELEASE {name}")
                raise
            self._conn.execute(f"RELEASE {name}")

    async def _retry(self, run: Callable[[], _T]) -> _T:
        """``run()``, retried while another process holds the database locked."""
        try:
            return run()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.001
        while True:
            if time.monotonic() + pause > deadline:
                return run()  # the last attempt: its error is the one raised
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
            try:
                return run()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise

    async def _statement(self, run: Callable[[], _T]) -> _T:
        """One statement: serialised with other tasks' (inside our own transaction the
        lock is already held), retried while locked, its error mapped."""
        try:
            if self._owns_tx():
                return await self._retry(run)
            async with self._lock:
                return await self._retry(run)
        except sqlite3.Error as exc:
            raise self._mapped_error(exc) from exc
        except _BAD_VALUE as exc:
            raise StoreRejected(f"SQLite {self._path}: {exc}") from exc

    def execute_now(self, sql: str, *args: Any) -> bool:
        """Run one statement at once, or do nothing and say False: when another task is
        using this connection, another process holds the file's write lock, or the file
        is unusable right now. Never waits, so a caller that must not yield (a sink on the
        reply path) can try it and queue the work for an awaiting path when it says no."""
        if self._lock.locked() or self._conn.in_transaction:
            return False
        try:
            self._conn.execute(_sql(sql), args)
        except sqlite3.Error as exc:
            if _is_unavailable(exc):
                return False
            raise self._mapped_error(exc) from exc
        except _BAD_VALUE as exc:
            raise StoreRejected(f"SQLite {self._path}: {exc}") from exc
        return True

    @asynccontextmanager
    async def _mapped(self) -> AsyncIterator[None]:
        """``sqlite3`` errors as StoreUnavailable (locked, disk trouble), StoreRejected
        (the data: a constraint, a value SQLite cannot hold) or StoreError."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._mapped_error(exc) from exc
        except _BAD_VALUE as exc:
            raise StoreRejected(f"SQLite {self._path}: {exc}") from exc

    def _mapped_error(self, exc: sqlite3.Error) -> StoreError:
        kind: type[StoreError] = StoreError
        if _is_unavailable(exc):
            kind = StoreUnavailable
        elif isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
            kind = StoreRejected
        return kind(f"SQLite {self._path}: {exc}")
