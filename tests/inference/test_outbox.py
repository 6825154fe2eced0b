"""The ledger's local outbox: durable at once, drained exactly once, bad rows quarantined."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest

from inference.config import LedgerConfig
from inference.ledger import Ledger
from inference.outbox import Outbox, payload
from inference.records import LedgerRecord
from store import Database, open_database
from tests.support.services import PostgresProcess


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.sqlite3"
    url: str = request.getfixturevalue("pg_database_url")
    return url


def record(**kw: object) -> LedgerRecord:
    base: dict[str, object] = {"ts": time.time(), "route": "smart-agent", "node": "mlx",
                               "model": "mlx-qwen", "upstream_model": "q"}
    base.update(kw)
    return LedgerRecord(**base)  # type: ignore[arg-type]


def ledger_for(url: str, tmp_path: Path, *, outbox: Path | None = None,
               legacy_spill: Path | None = None, **config: object) -> Ledger:
    async def opener() -> Database:
        return await open_database(url, tmp_path)

    cfg = LedgerConfig.model_validate({"flush_interval": 0.05, **config})
    return Ledger(opener, cfg, outbox or tmp_path / "outbox.sqlite3", legacy_spill=legacy_spill)


async def ledger_rows(url: str, tmp_path: Path) -> list[str]:
    """The agents of the store's records, in order; [] when the table is not there yet."""
    db = await open_database(url, tmp_path)
    try:
        return [r["agent"] for r in await db.fetch("SELECT agent FROM ledger ORDER BY agent")]
    finally:
        await db.close()


async def outbox_rows(path: Path) -> int:
    outbox = await Outbox.open(path)  # a second connection, as another process would have
    try:
        return await outbox.pending()
    finally:
        await outbox.close()


async def test_a_record_is_in_the_outbox_file_when_record_returns(tmp_path: Path) -> None:
    with PostgresProcess() as pg:
        pg.stop()  # nothing can reach the store
        async with ledger_for(pg.url, tmp_path) as ledger:
            ledger.record(record(agent="now"))  # the first record, right after start-up
            # no await in between: another process already sees the row
            assert await outbox_rows(tmp_path / "outbox.sqlite3") == 1
            assert ledger.backlog == 1


async def test_replay_after_a_crash_between_commit_and_delete_adds_nothing(
    database_url: str, tmp_path: Path
) -> None:
    records = [record(agent=f"a{i}") for i in range(5)]
    async with ledger_for(database_url, tmp_path) as ledger:
        for r in records:
            ledger.record(r)
        await ledger.flush()
    # the state a crash after the store's commit and before the outbox delete leaves
    outbox = await Outbox.open(tmp_path / "outbox.sqlite3")
    await outbox.append(records[:3])
    await outbox.close()
    async with ledger_for(database_url, tmp_path) as ledger:
        async with asyncio.timeout(10):
            await ledger.flush()
    assert await ledger_rows(database_url, tmp_path) == [f"a{i}" for i in range(5)]
    assert await outbox_rows(tmp_path / "outbox.sqlite3") == 0


async def test_two_drainers_on_one_outbox_write_each_record_once(
    database_url: str, tmp_path: Path
) -> None:
    async with ledger_for(database_url, tmp_path) as one, \
            ledger_for(database_url, tmp_path) as two:
        for i in range(300):
            (one if i % 2 else two).record(record(agent=f"r{i:03}"))
        async with asyncio.timeout(20):
            await asyncio.gather(one.flush(), two.flush())
    assert await ledger_rows(database_url, tmp_path) == [f"r{i:03}" for i in range(300)]


async def test_a_corrupt_row_is_quarantined_and_the_rows_after_it_land(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = await Outbox.open(path)
    await outbox.append([record(agent="before")])
    await outbox.close()
    cut = payload(record(agent="cut"))[:40]
    with sqlite3.connect(path) as raw:  # a row that is not a record, then a truncated one
        raw.execute("INSERT INTO outbox (record_id, payload, added_at) VALUES (?, ?, ?)",
                    ("x1", json.dumps({"ts": "yesterday", "route": "r"}), 0.0))
        raw.execute("INSERT INTO outbox (record_id, payload, added_at) VALUES (?, ?, ?)",
                    ("x2", cut, 0.0))
    outbox = await Outbox.open(path)
    await outbox.append([record(agent="after")])
    await outbox.close()
    async with ledger_for(database_url, tmp_path) as ledger:
        async with asyncio.timeout(10):
            await ledger.flush()
        assert ledger.quarantine.count == 2
        assert "JSONDecodeError" in (ledger.quarantine.latest_reason or "")
    assert await ledger_rows(database_url, tmp_path) == ["after", "before"]
    with sqlite3.connect(path) as raw:
        kept = raw.execute("SELECT payload FROM quarantine ORDER BY seq").fetchall()
    # kept as they were, for a human to look at
    assert [json.loads(kept[0][0])["ts"], kept[1][0]] == ["yesterday", cut]


async def test_a_record_the_store_refuses_is_quarantined_and_the_others_land(
    database_url: str, tmp_path: Path
) -> None:
    too_big = 2**70  # beyond SQLite's 64-bit and PostgreSQL's 32-bit INTEGER
    async with ledger_for(database_url, tmp_path) as ledger:
        ledger.record(record(agent="one"))
        ledger.record(record(agent="huge", prompt_tokens=too_big))
        ledger.record(record(agent="two", error="odd text \x00 and \udcff"))
        async with asyncio.timeout(10):
            await ledger.flush()
        assert ledger.quarantine.count == 1
    assert await ledger_rows(database_url, tmp_path) == ["one", "two"]
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as raw:
        [(kept, source)] = raw.execute("SELECT payload, source FROM quarantine").fetchall()
    assert json.loads(kept)["agent"] == "huge"
    assert "store refused" in source


async def test_an_old_spill_file_is_imported_once_and_its_bad_lines_quarantined(
    database_url: str, tmp_path: Path
) -> None:
    spill = tmp_path / "ledger.spill.jsonl"
    lines = [json.dumps(record(agent=f"s{i}").to_json()) for i in range(4)]
    lines.insert(2, lines[0][:25])  # a line cut short by a crash, in the middle
    no_id = record(agent="s9").to_json()
    del no_id["record_id"]  # an older line without an id
    spill.write_text("\n".join([*lines, json.dumps(no_id), '{"ts": 1']) + "\n")
    replaying = tmp_path / "ledger.spill.jsonl.replaying"
    replaying.write_text(json.dumps(record(agent="r0").to_json()) + "\n")
    for _ in range(2):  # the second start finds nothing left to import
        async with ledger_for(database_url, tmp_path, legacy_spill=spill) as ledger:
            async with asyncio.timeout(10):
                await ledger.flush()
            assert ledger.quarantine.count == 2
    assert await ledger_rows(database_url, tmp_path) == ["r0", "s0", "s1", "s2", "s3", "s9"]
    assert not spill.exists() and not replaying.exists()


async def test_without_a_usable_outbox_records_go_straight_to_the_store(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "not-a-dir").write_text("a file where the outbox's directory should be")
    async with ledger_for(database_url, tmp_path,
                          outbox=tmp_path / "not-a-dir" / "outbox.sqlite3") as ledger:
        for i in range(3):
            ledger.record(record(agent=f"m{i}"))
        async with asyncio.timeout(10):
            await ledger.flush()
    assert await ledger_rows(database_url, tmp_path) == ["m0", "m1", "m2"]


async def test_postgres_outage_of_300_records_loses_none(tmp_path: Path) -> None:
    with PostgresProcess() as pg:
        async with ledger_for(pg.url, tmp_path, batch_size=50) as ledger:
            for i in range(100):
                ledger.record(record(agent=f"b{i:03}"))
            await ledger.flush()
            pg.stop()
            for i in range(100, 300):
                ledger.record(record(agent=f"b{i:03}"))
            async with asyncio.timeout(10):
                await ledger.wait_until(lambda led: led.last_error is not None)
            # with the database known down, settle does not wait for it (this would hang)
            assert await ledger.settle(budget=3600) is False
            pg.start()
            async with asyncio.timeout(30):
                await ledger.flush()
        assert await ledger_rows(pg.url, tmp_path) == [f"b{i:03}" for i in range(300)]
