"""The SQLite store backend on real files: placeholders, WAL, lock waits, transactions, errors."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from inference.errors import StoreError, StoreUnavailable
from store import Database
from store._sqlite import SqliteDatabase

_INSERT = "INSERT INTO items (name) VALUES ($1)"


class Boom(Exception):
    """Raised inside transactions to make them roll back."""


async def _create(path: Path, *, busy_timeout: float = 5.0) -> SqliteDatabase:
    db = await SqliteDatabase.open(path, busy_timeout=busy_timeout)
    await db.execute("CREATE TABLE IF NOT EXISTS items "
                     "(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    return db


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = await _create(db_path)
    yield database
    await database.close()


@pytest.fixture
def other(db: SqliteDatabase, db_path: Path) -> Iterator[sqlite3.Connection]:
    """A second, plain connection to the same file (think: another process)."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


async def names(db: SqliteDatabase) -> list[str]:
    return [row["name"] for row in await db.fetch("SELECT name FROM items ORDER BY id")]


class Ticker:
    """A coroutine that counts loop iterations; ``reached`` fires after ``target`` ticks."""

    def __init__(self, target: int = 200) -> None:
        self.ticks = 0
        self.target = target
        self.reached = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            if self.ticks >= self.target:
                self.reached.set()
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


async def insert_in_transaction(db: Database, *rows: str, then_raise: bool = False) -> None:
    """Insert ``rows`` one by one in a transaction; raise :class:`Boom` at the end if asked."""
    async with db.transaction() as tx:
        for row in rows:
            await tx.execute(_INSERT, row)
        if then_raise:
            raise Boom


# -- basics ------------------------------------------------------------------------------------

async def test_dollar_placeholders_are_positional_and_reusable(db: SqliteDatabase) -> None:
    await db.execute("CREATE TABLE pairs (a TEXT, b TEXT, c INTEGER)")
    await db.execute("INSERT INTO pairs (b, a, c) VALUES ($2, $1, $3)", "first", "second", 3)
    rows = await db.fetch("SELECT a, b, c FROM pairs WHERE a = $1 OR b = $1", "first")
    assert rows == [{"a": "first", "b": "second", "c": 3}]
    eleven = ", ".join(f"${n}" for n in range(1, 12))
    assert await db.fetchval(f"SELECT ${11} + $10 + $1 FROM (SELECT {eleven})",
                             *range(1, 12)) == 22


async def test_fetch_fetchval_execute_executemany(db: SqliteDatabase) -> None:
    await db.execute(_INSERT, "alpha")
    await db.executemany(_INSERT, [("beta",), ("gamma",)])
    assert await names(db) == ["alpha", "beta", "gamma"]
    assert await db.fetchval("SELECT COUNT(*) FROM items") == 3
    assert await db.fetchval("SELECT name FROM items WHERE name = $1", "nope") is None
    rows = await db.fetch("SELECT id, name FROM items WHERE id > $1 ORDER BY id", 1)
    assert [dict(r) for r in rows] == [{"id": 2, "name": "beta"}, {"id": 3, "name": "gamma"}]
    assert await db.fetch("SELECT * FROM items WHERE id < 0") == []
    assert await db.ping() >= 0
    assert str(db.description).endswith("store.sqlite3")


async def test_executemany_is_atomic(db: SqliteDatabase) -> None:
    await db.execute(_INSERT, "taken")
    with pytest.raises(StoreError) as caught:
        await db.executemany(_INSERT, [("new-1",), ("new-2",), ("taken",)])
    assert not isinstance(caught.value, StoreUnavailable)
    assert await names(db) == ["taken"]


async def test_wal_mode_is_on_and_persists_in_the_file(db: SqliteDatabase, db_path: Path) -> None:
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    plain = sqlite3.connect(db_path)
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        plain.close()


async def test_statements_after_close_raise_store_error(db_path: Path) -> None:
    db = await _create(db_path)
    await db.close()
    with pytest.raises(StoreError):
        await db.fetch("SELECT 1")


# -- another connection holding the write lock -------------------------------------------------

async def test_waiting_for_a_lock_keeps_the_loop_running(
    db: SqliteDatabase, other: sqlite3.Connection
) -> None:
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO items (name) VALUES ('theirs')")
    insert = asyncio.create_task(db.execute(_INSERT, "ours"))  # runs its first try first
    ticker = Ticker()

    async def release() -> None:
        await ticker.reached.wait()
        assert not insert.done(), "the insert should still be waiting for the lock"
        other.execute("COMMIT")

    releaser = asyncio.create_task(release())
    async with asyncio.timeout(10):
        await insert
        await releaser
    await ticker.stop()
    assert ticker.ticks >= ticker.target
    assert await names(db) == ["theirs", "ours"]  # ours landed after their commit


async def test_a_lock_never_released_raises_store_unavailable(
    db_path: Path, other: sqlite3.Connection
) -> None:
    db = await _create(db_path, busy_timeout=0.2)
    try:
        other.execute("BEGIN IMMEDIATE")
        ticker = Ticker(target=10)
        with pytest.raises(StoreUnavailable, match=r"(?i)sqlite.*locked"):
            await db.execute(_INSERT, "ours")
        assert ticker.reached.is_set()  # the loop kept running while we waited
        await ticker.stop()
        with pytest.raises(StoreUnavailable, match=r"(?i)sqlite.*locked"):
            await insert_in_transaction(db, "in-tx")
        other.execute("ROLLBACK")
        await db.execute(_INSERT, "later")  # usable again once the lock is gone
        assert await names(db) == ["later"]
    finally:
        await db.close()


async def test_reads_do_not_wait_for_another_writer(
    db: SqliteDatabase, other: sqlite3.Connection
) -> None:
    await db.execute(_INSERT, "committed")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO items (name) VALUES ('uncommitted')")
    async with asyncio.timeout(10):
        assert await names(db) == ["committed"]  # WAL: readers see the last commit


# -- transactions ------------------------------------------------------------------------------

async def test_transaction_commits(db: SqliteDatabase, db_path: Path) -> None:
    async with db.transaction() as tx:
        await tx.execute(_INSERT, "one")
        await tx.executemany(_INSERT, [("two",), ("three",)])
        assert await tx.fetchval("SELECT COUNT(*) FROM items") == 3
    plain = sqlite3.connect(db_path)
    try:
        assert plain.execute("SELECT COUNT(*) FROM items").fetchone() == (3,)
    finally:
        plain.close()


async def test_transaction_rolls_back_on_exception(db: SqliteDatabase) -> None:
    with pytest.raises(Boom):
        await insert_in_transaction(db, "doomed", then_raise=True)
    assert await names(db) == []
    async with db.transaction() as tx:  # and the connection is not left in a transaction
        await tx.execute(_INSERT, "kept")
    assert await names(db) == ["kept"]


async def test_a_failed_statement_rolls_back_the_transaction(db: SqliteDatabase) -> None:
    with pytest.raises(StoreError):
        await insert_in_transaction(db, "dup", "dup")
    assert await names(db) == []


async def test_other_tasks_wait_for_an_open_transaction(db: SqliteDatabase) -> None:
    inside, finish = asyncio.Event(), asyncio.Event()

    async def body() -> None:
        async with db.transaction() as tx:
            await tx.execute(_INSERT, "tx")
            inside.set()
            await finish.wait()
            raise Boom

    tx_task = asyncio.create_task(body())
    await inside.wait()
    outsider = asyncio.create_task(db.execute(_INSERT, "outsider"))
    for _ in range(5):  # give the outsider every chance to sneak into the transaction
        await asyncio.sleep(0)
    assert not outsider.done()
    finish.set()
    with pytest.raises(Boom):
        await tx_task
    async with asyncio.timeout(10):
        await outsider
    assert await names(db) == ["outsider"]  # ran after the rollback, not inside it


async def test_a_task_spawned_in_a_transaction_does_not_join_later_ones(
    db: SqliteDatabase,
) -> None:
    go = asyncio.Event()

    async def straggler() -> None:
        await go.wait()
        await db.execute(_INSERT, "straggler")

    async with db.transaction() as tx:
        await tx.execute(_INSERT, "first")
        late = asyncio.create_task(straggler())  # inherits the context of this transaction
    inside = asyncio.Event()

    async def second() -> None:
        async with db.transaction() as tx:
            await tx.execute(_INSERT, "second")
            inside.set()
            go.set()
            for _ in range(5):
                await asyncio.sleep(0)
            raise Boom

    with pytest.raises(Boom):
        await second()
    async with asyncio.timeout(10):
        await late
    assert await names(db) == ["first", "straggler"]


async def test_nested_transaction_is_a_savepoint(db: SqliteDatabase) -> None:
    async with asyncio.timeout(10), db.transaction() as outer:
        await outer.execute(_INSERT, "outer")
        with pytest.raises(Boom):
            await insert_in_transaction(outer, "inner-dropped", then_raise=True)
        await insert_in_transaction(outer, "inner-kept")
    assert await names(db) == ["outer", "inner-kept"]


async def test_cancelled_transaction_rolls_back(db: SqliteDatabase) -> None:
    inside = asyncio.Event()

    async def body() -> None:
        async with db.transaction() as tx:
            await tx.execute(_INSERT, "cancelled")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db.transaction() as tx:
        await tx.execute(_INSERT, "after")
    assert await names(db) == ["after"]


# -- errors ------------------------------------------------------------------------------------

async def _assert_plain_store_error(statement: Awaitable[object], match: str) -> None:
    with pytest.raises(StoreError, match=match) as caught:
        await statement
    assert not isinstance(caught.value, StoreUnavailable)


async def test_non_busy_errors_raise_store_error_without_retrying(
    db_path: Path, other: sqlite3.Connection
) -> None:
    db = await _create(db_path, busy_timeout=60)  # a retry would outlast the guard below
    try:
        other.execute("BEGIN IMMEDIATE")  # even while the database is locked
        async with asyncio.timeout(10):
            await _assert_plain_store_error(db.fetch("SELEC 1"), "SQLite.*syntax error")
            await _assert_plain_store_error(
                db.execute("INSERT INTO missing (x) VALUES ($1)", 1), "SQLite.*no such table")
        other.execute("ROLLBACK")
        await db.execute(_INSERT, "dup")
        await _assert_plain_store_error(db.execute(_INSERT, "dup"), "UNIQUE")
    finally:
        await db.close()


def _parent_is_a_file(tmp_path: Path) -> Path:
    (tmp_path / "plain-file").write_text("not a directory")
    return tmp_path / "plain-file" / "store.sqlite3"


def _path_is_a_directory(tmp_path: Path) -> Path:
    (tmp_path / "a-directory").mkdir()
    return tmp_path / "a-directory"


def _not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"this is not an SQLite file " * 200)
    return path


@pytest.mark.parametrize("make_path", [_parent_is_a_file, _path_is_a_directory, _not_a_database])
async def test_open_on_an_invalid_path_raises_store_unavailable(
    tmp_path: Path, make_path: Callable[[Path], Path]
) -> None:
    path = make_path(tmp_path)
    with pytest.raises(StoreUnavailable) as caught:
        await SqliteDatabase.open(path)
    assert str(path) in str(caught.value)


@pytest.fixture
def unwritable_directory(tmp_path: Path) -> Iterator[Path]:
    """A directory no one may create files in, root included: immutable (``chattr +i``,
    which binds root too) where the file system allows it, else read-only for a non-root
    user. Skips only where neither holds."""
    locked = tmp_path / "read-only"
    locked.mkdir()
    chattr = shutil.which("chattr")
    immutable = chattr is not None and subprocess.run(
        [chattr, "+i", str(locked)], capture_output=True, check=False).returncode == 0
    if not immutable:
        locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK) and not immutable:
            pytest.skip("no way to make a directory unwritable here (root, no chattr +i)")
        yield locked
    finally:
        if immutable:
            subprocess.run([chattr or "chattr", "-i", str(locked)], check=True)
        locked.chmod(0o700)


async def test_open_in_an_unwritable_directory_raises_store_unavailable(
    unwritable_directory: Path,
) -> None:
    path = unwritable_directory / "store.sqlite3"
    with pytest.raises(PermissionError):  # the premise: this process really cannot create it
        path.touch()
    with pytest.raises(StoreUnavailable) as caught:
        await SqliteDatabase.open(path)
    assert str(path) in str(caught.value)
