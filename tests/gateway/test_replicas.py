"""Two real ``homecrew serve`` processes sharing the real Redis and PostgreSQL: a node that
replica A finds down is skipped by replica B within 1 s, and both replicas' ledger records
land in the one PostgreSQL."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.processes import ManagedProcess, free_port
from tests.support.prometheus import sample
from tests.support.standins import OllamaStandin, OpenAIStandin, Script
from tests.support.waiting import wait_until
from tests.test_support_paths import REPO

pytest.importorskip("homecrew.gateway_compose", reason="homecrew serve is not merged yet")

CHAT = {"model": "smart-agent", "messages": [{"role": "user", "content": "hi"}]}


def write_config(tmp_path: Path, mlx_url: str, ollama_url: str, redis_url: str,
                 database_url: str) -> Path:
    """One config for both replicas. Probes rest long: replica B must learn that MLX is
    down from A, not from a probe of its own."""
    path = tmp_path / "homecrew.yaml"
    path.write_text(f"""
nodes:
  mlx: {{kind: openai, base_url: "{mlx_url}"}}
  ollama: {{kind: ollama, base_url: "{ollama_url}"}}
models:
  mlx-qwen: {{node: mlx, model: "mlx-community/Qwen2.5-14B-Instruct-4bit"}}
  ollama-qwen: {{node: ollama, model: "qwen2.5:14b"}}
routes:
  smart-agent: [mlx-qwen, ollama-qwen]
timeouts: {{connect: 2, first_token: 5, total: 20, hedge_after: "off"}}
health: {{failure_threshold: 1, cooldown: 60, probe_interval: 300, probe_interval_open: 300,
          shared_prefix: "hc-test-{uuid.uuid4().hex[:8]}"}}
cache: {{ttl: 0}}
gateway: {{redis_url: "{redis_url}"}}
ledger: {{database_url: "{database_url}", flush_interval: 0.05}}
""")
    return path


async def start_replica(exits: AsyncExitStack, config: Path, data_dir: Path) -> str:
    port = free_port()
    argv = [sys.executable, "-m", "homecrew.cli", "serve", "--config", str(config),
            "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    await exits.enter_async_context(ManagedProcess(
        argv, ready=f"{url}/health", cwd=REPO, timeout=60, name="homecrew-serve",
        env={"HOMECREW_DATA_DIR": str(data_dir)}))
    return url


async def mlx_up(client: httpx.AsyncClient, url: str) -> bool:
    nodes = (await client.get(f"{url}/health")).json()["nodes"]
    return bool(nodes["mlx"]["up"])


async def ledger_rows(database_url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT node, outcome FROM ledger")
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()
    return [(r["node"], r["outcome"]) for r in rows]


@pytest.fixture
async def replicas(tmp_path: Path, redis_url: str, pg_database_url: str
                   ) -> AsyncIterator[tuple[OpenAIStandin, str, str]]:
    async with AsyncExitStack() as exits:
        mlx = await exits.enter_async_context(OpenAIStandin(script=Script(reply="from mlx")))
        ollama = await exits.enter_async_context(
            OllamaStandin(script=Script(reply="from ollama")))
        config = write_config(tmp_path, f"{mlx.base_url}/v1", ollama.base_url, redis_url,
                              pg_database_url)
        a = await start_replica(exits, config, tmp_path / "a")
        b = await start_replica(exits, config, tmp_path / "b")
        yield mlx, a, b


async def test_a_node_replica_a_finds_down_is_skipped_by_replica_b_within_1s(
        replicas: tuple[OpenAIStandin, str, str], pg_database_url: str) -> None:
    mlx, a, b = replicas
    async with httpx.AsyncClient(timeout=30) as client:
        for url in (a, b, b):
            response = await client.post(f"{url}/v1/chat/completions", json=CHAT)
            assert response.status_code == 200, response.text
            assert response.json()["choices"][0]["message"]["content"] == "from mlx"
        await mlx.stop()
        response = await client.post(f"{a}/v1/chat/completions", json=CHAT)
        seen_down = time.monotonic()
        assert response.json()["choices"][0]["message"]["content"] == "from ollama"
        assert not await mlx_up(client, a)

        async def b_skips_mlx() -> bool:
            return not await mlx_up(client, b)

        await wait_until(b_skips_mlx, within=1.0, what="B to skip the node A found down")
        assert time.monotonic() - seen_down <= 1.0
        health_b = (await client.get(f"{b}/health")).json()
        assert health_b["nodes"]["mlx"]["state"] == "closed", "B's own circuit never opened"
        assert health_b["routes"]["smart-agent"]["serving"] == "ollama-qwen"

        response = await client.post(f"{b}/v1/chat/completions", json=CHAT)
        assert response.json()["choices"][0]["message"]["content"] == "from ollama"
        metrics_b = (await client.get(f"{b}/metrics")).text
    assert sample(metrics_b, "homecrew_llm_requests_total", node="ollama", key="local",
                  outcome="ok") == 1
    assert sample(metrics_b, "homecrew_llm_requests_total", node="mlx", outcome="ok") == 2
    assert sample(metrics_b, "homecrew_node_up", node="mlx") == 0
    assert sample(metrics_b, "homecrew_http_requests_total", endpoint="/v1/chat/completions",
                  status="200") == 3

    expected = sorted([("mlx", "ok")] * 3 + [("mlx", "unavailable"), ("ollama", "ok"),
                                            ("ollama", "ok")])

    async def all_landed() -> bool:
        return sorted(await ledger_rows(pg_database_url)) == expected

    await wait_until(all_landed, within=10, what="both replicas' records in PostgreSQL")
