"""The ledger across real processes and a real PostgreSQL: kill -9, many writers, upgrades."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from inference.records import LedgerRecord
from tests.support.services import PostgresProcess
from tests.support.standins import OllamaStandin, Script, ServerThread
from tests.test_support_paths import REPO


@pytest.fixture
def ollama() -> Iterator[ServerThread[OllamaStandin]]:
    script = Script(reply="pong", prompt_tokens=7, completion_tokens=3)
    with ServerThread(lambda: OllamaStandin(script=script)) as node:
        yield node


@pytest.fixture
def pg() -> Iterator[PostgresProcess]:
    with PostgresProcess() as server:
        yield server


def write_config(tmp_path: Path, ollama_url: str, database_url: str) -> Path:
    path = tmp_path / "homecrew.yaml"
    path.write_text(f"""
nodes:
  ollama: {{kind: ollama, base_url: "{ollama_url}"}}
models:
  ollama-qwen: {{node: ollama, model: "qwen2.5:14b"}}
routes:
  local: [ollama-qwen]
timeouts: {{connect: 5, first_token: 20, total: 60}}
health: {{probe_timeout: 10}}
ledger: {{database_url: "{database_url}"}}
data_dir: "{tmp_path / 'data'}"
""")
    return path


def homecrew(*args: str) -> list[str]:
    return [sys.executable, "-m", "homecrew.cli", *args]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                          cwd=REPO)


async def ledger_ids(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["record_id"] for r in await conn.fetch("SELECT record_id FROM ledger")]
    finally:
        await conn.close()


def spend(config: Path) -> tuple[dict[str, object], str]:
    result = run(homecrew("spend", "--config", str(config), "--by", "node", "--json"))
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report, result.stderr


def answered(report: dict[str, object]) -> int:
    total = report["total"]
    assert isinstance(total, dict)
    return int(total["answered"])


@pytest.mark.parametrize("database", ["down", "up"])
def test_kill_9_after_the_reply_loses_no_record(
    tmp_path: Path, ollama: ServerThread[OllamaStandin], pg: PostgresProcess, database: str
) -> None:
    config = write_config(tmp_path, ollama.base_url, pg.url)
    if database == "down":
        pg.stop()
    client = subprocess.Popen(
        [sys.executable, "-m", "tests.support.ledger_client", str(config), "local", "hi"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert client.stdout is not None
        line = client.stdout.readline()  # the reply has finished once this line comes
        assert line.strip() == "replied ollama", client.stderr.read() if client.stderr else ""
    finally:
        os.kill(client.pid, signal.SIGKILL)
        client.wait(30)
    assert client.returncode == -signal.SIGKILL
    if database == "down":
        pg.start()
    report, _ = spend(config)  # the next command finds the record and sends it
    assert answered(report) == 1
    assert len(asyncio.run(ledger_ids(pg.url))) == 1
    report, _ = spend(config)  # and only once
    assert answered(report) == 1


def test_eight_concurrent_asks_during_an_outage_all_land_once(
    tmp_path: Path, ollama: ServerThread[OllamaStandin], pg: PostgresProcess
) -> None:
    config = write_config(tmp_path, ollama.base_url, pg.url)
    data = tmp_path / "data"
    data.mkdir()
    # the spill file of an earlier version, cut short by a crash: it must not hurt anyone
    old = [LedgerRecord(ts=1.0e9 + i, route="local", node="ollama", model="ollama-qwen",
                        upstream_model="qwen2.5:14b", agent="old") for i in range(2)]
    (data / "ledger.spill.jsonl").write_text(
        "".join(json.dumps(r.to_json()) + "\n" for r in old) + '{"ts": 17000')
    pg.stop()
    asks = [subprocess.Popen(homecrew("ask", "--config", str(config), "--route", "local",
                                      "--json", "--no-cache", f"question {i}"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=REPO)
            for i in range(8)]
    results = [(p.communicate(timeout=180), p.returncode) for p in asks]
    for (out, err), code in results:
        assert code == 0, err
        assert json.loads(out)["text"] == "pong"
        assert "Traceback" not in err
        assert "records kept for later" in err
    pg.start()
    report, warnings = spend(config)
    assert answered(report) == 8  # the old records are from 2001, outside the window
    ids = asyncio.run(ledger_ids(pg.url))
    assert len(ids) == len(set(ids)) == 10
    assert {r.record_id for r in old} <= set(ids)
    assert "1 ledger record(s) quarantined" in warnings
    assert not (data / "ledger.spill.jsonl").exists()
    status = run(homecrew("status", "--config", str(config), "--json"))
    assert json.loads(status.stdout)["ledger"] == {"backlog": 0, "quarantined": 1}
