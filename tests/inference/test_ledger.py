"""The spend ledger on SQLite and PostgreSQL: records, reports, outages and the outbox."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from inference.config import LedgerConfig
from inference.ledger import LEDGER_MIGRATIONS, Ledger
from inference.records import LedgerRecord
from inference.report import parse_since, spend_report
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message
from store import Database, apply_migrations, open_database
from tests.support.services import PostgresProcess
from tests.support.stack import seed_like_settings
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin, Script


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


def ledger_for(url: str, tmp_path: Path, **config: object) -> Ledger:
    async def opener() -> Database:
        return await open_database(url, tmp_path)

    cfg = LedgerConfig.model_validate({"flush_interval": 0.05, **config})
    return Ledger(opener, cfg, tmp_path / "outbox.sqlite3")


async def count(url: str, tmp_path: Path) -> int:
    db = await open_database(url, tmp_path)
    try:
        return int(await db.fetchval("SELECT COUNT(*) FROM ledger"))
    finally:
        await db.close()


async def test_migrations_are_versioned_and_idempotent(database_url: str, tmp_path: Path) -> None:
    db = await open_database(database_url, tmp_path)
    try:
        assert await apply_migrations(db, "ledger", LEDGER_MIGRATIONS) == 2
        assert await apply_migrations(db, "ledger", LEDGER_MIGRATIONS) == 0
        rows = await db.fetch("SELECT component, version FROM schema_migrations "
                              "ORDER BY version")
        assert [(r["component"], r["version"]) for r in rows] == [("ledger", 1), ("ledger", 2)]
    finally:
        await db.close()


async def test_a_version_1_ledger_gains_the_key_column_and_keeps_its_rows(
    database_url: str, tmp_path: Path
) -> None:
    db = await open_database(database_url, tmp_path)
    try:
        assert await apply_migrations(db, "ledger", LEDGER_MIGRATIONS[:1]) == 1
        await db.execute(
            "INSERT INTO ledger (record_id, ts, day, route, node, model, upstream_model, "
            "prompt_tokens, completion_tokens, cost_usd, cloud_equivalent_usd, latency_s, "
            "cache_hit, fallback_depth, outcome, cloud, tokens_estimated) VALUES "
            "('old', 1.0, '1970-01-01', 'r', 'n', 'm', 'u', 1, 2, 0.5, 0.5, 0.1, "
            "FALSE, 0, 'ok', TRUE, FALSE)")
        assert await apply_migrations(db, "ledger", LEDGER_MIGRATIONS) == 1
        rows = await db.fetch("SELECT record_id, key_name, cost_usd FROM ledger")
        assert [(r["record_id"], r["key_name"], r["cost_usd"]) for r in rows] == [
            ("old", None, 0.5)]
    finally:
        await db.close()


async def test_one_record_per_attempt_through_the_chain(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        OpenAIStandin(script=Script.http_error(500)) as mlx,
        OllamaStandin(script=Script(reply="ollama says hi", prompt_tokens=10,
                                    completion_tokens=4)) as ollama,
        AnthropicStandin() as claude,
    ):
        settings = seed_like_settings(
            mlx_url=f"{mlx.base_url}/v1", ollama_url=ollama.base_url,
            anthropic_url=claude.base_url, data_dir=tmp_path,
            ledger={"database_url": database_url},
        )
        ask = ChatRequest(route="smart-agent", messages=[Message("user", "hi")], agent="skip")
        async with InferenceStack.open(settings, probes=False) as stack:
            await stack.complete(ask)
            await stack.complete(ask)  # a cache hit
            await stack.ledger.flush()
            db = await stack.database()
            rows = await db.fetch("SELECT * FROM ledger ORDER BY ts, fallback_depth")
    assert [(r["node"], r["outcome"], r["fallback_depth"]) for r in rows] == [
        ("mlx", "unavailable", 0), ("ollama", "ok", 1), ("ollama", "cache_hit", 0)]
    served = rows[1]
    assert served["agent"] == "skip"
    assert (served["prompt_tokens"], served["completion_tokens"]) == (10, 4)
    assert served["cost_usd"] == 0.0
    # the local tokens are valued at the reference model (claude-sonnet-4-5: $3 / $15 per M)
    assert served["cloud_equivalent_usd"] == pytest.approx(10 * 3e-6 + 4 * 15e-6)
    assert served["ttft_s"] is not None
    assert bool(rows[2]["cache_hit"]) is True
    assert "500" in (rows[0]["error"] or "")


async def test_spend_report_numbers(database_url: str, tmp_path: Path) -> None:
    now = time.time()
    records = [
        *(record(agent="skip", ts=now - 60, prompt_tokens=100, completion_tokens=50,
                 cloud_equivalent_usd=0.01) for _ in range(18)),
        record(agent="gonzo", ts=now - 30, node="anthropic", model="claude-sonnet",
               cloud=True, cost_usd=0.02, cloud_equivalent_usd=0.02, fallback_depth=1),
        record(agent="gonzo", ts=now - 20, outcome="cache_hit", cache_hit=True),
        record(agent="gonzo", ts=now - 10, outcome="timeout", error="slow"),
        record(agent="jax", ts=now - 10 * 86400, cost_usd=5.0, cloud=True),  # out of window
    ]
    async with ledger_for(database_url, tmp_path) as ledger:
        for r in records:
            ledger.record(r)
        await ledger.flush()
        db = await ledger.connect()
        report = await spend_report(db, since=now - parse_since("7d"), by="agent")
        by_node = await spend_report(db, since=now - 3600, by="node")
    total = report.total
    assert (total.attempts, total.answered, total.failures) == (21, 20, 1)
    assert total.cache_hits == 1
    assert total.cloud_answered == 1
    assert total.local_share == pytest.approx(19 / 20)
    assert total.cost_usd == pytest.approx(0.02)
    assert total.cloud_only_usd == pytest.approx(18 * 0.01 + 0.02)
    assert total.savings_usd == pytest.approx(0.18)
    assert total.fallbacks == 1
    assert [r.key for r in report.rows] == ["gonzo", "skip"]
    assert {r.key: r.answered for r in by_node.rows} == {"anthropic": 1, "mlx": 19}
    assert report.top_calls[0]["cost_usd"] == pytest.approx(0.02)


async def test_postgres_outage_loses_no_record(tmp_path: Path) -> None:
    with PostgresProcess() as pg:
        async with ledger_for(pg.url, tmp_path) as ledger:
            for i in range(20):
                ledger.record(record(agent=f"before-{i}"))
            await ledger.flush()
            pg.stop()
            for i in range(30):
                ledger.record(record(agent=f"during-{i}"))
            async with asyncio.timeout(10):
                await ledger.wait_until(lambda led: led.last_error is not None)
            assert ledger.backlog == 30
            pg.start()
            async with asyncio.timeout(20):
                await ledger.flush()
        assert await count(pg.url, tmp_path) == 50


async def test_an_unusable_store_leaves_records_in_the_outbox_for_the_next_process(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/missing-dir/ledger.sqlite3"
    (tmp_path / "missing-dir").write_text("a file where the directory should be")
    async with ledger_for(url, tmp_path, buffer_size=10, batch_size=5) as ledger:
        for i in range(25):  # more than buffer_size: the outbox holds them, not memory
            ledger.record(record(agent=f"r{i}"))
        async with asyncio.timeout(10):
            await ledger.wait_until(lambda led: led.last_error is not None)
        assert ledger.backlog == 25
        assert not await ledger.settle(budget=3600)  # known down: no waiting (or a hang)
    good = f"sqlite:///{tmp_path}/ledger.sqlite3"
    async with ledger_for(good, tmp_path) as ledger:  # a later process drains them
        async with asyncio.timeout(10):
            await ledger.flush()
        assert ledger.backlog == 0
    assert await count(good, tmp_path) == 25
