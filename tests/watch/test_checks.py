"""The service checks on real servers: Redis, PostgreSQL, the ledger, HTTP endpoints, the
host, the mlx_daemon's /health and Ollama's API; failures, slowness and timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inference.config import LedgerConfig, NodeConfig
from inference.ledger import Ledger
from inference.records import LedgerRecord
from store import Database, open_database
from tests.mlx_daemon.support import daemon_settings, running
from tests.support.standins import BlackholeServer, OllamaStandin, OpenAIStandin, refused_url
from tests.support.tiny_mlx import TinyModels
from tests.support.tls import self_signed
from tests.watch.helpers import wait_until
from watch.checks import (
    HostCheck,
    HttpEndpointCheck,
    LedgerBacklogCheck,
    MlxDaemonCheck,
    OllamaCheck,
    PostgresCheck,
    RedisCheck,
)
from watch.results import CheckResult, Status, run_check, run_checks
from watch.settings import (
    HostCheckSettings,
    HttpEndpoint,
    LedgerCheckSettings,
    MlxDaemonCheckSettings,
    PostgresCheckSettings,
    RedisCheckSettings,
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as opened:
        yield opened


def one(results: list[CheckResult], key: str) -> CheckResult:
    [found] = [r for r in results if r.key == key]
    return found


async def test_redis_ping_and_memory(redis_url: str) -> None:
    check = RedisCheck(redis_url, RedisCheckSettings())
    try:
        result = one(await run_check(check), "redis")
    finally:
        await check.aclose()
    assert result.status is Status.OK
    assert result.message.startswith("Redis PING ")
    assert result.numbers["used_memory_bytes"] > 0
    assert result.numbers["ping_s"] > 0

    down = RedisCheck(refused_url().replace("http", "redis"), RedisCheckSettings(timeout_s=1))
    try:
        result = one(await run_check(down), "redis")
    finally:
        await down.aclose()
    assert (result.status, result.message) == (Status.CRITICAL,
                                               "Redis unreachable: ConnectionError")


async def test_redis_memory_against_maxmemory(redis_process: object) -> None:
    import redis as sync_redis

    url = redis_process.url  # type: ignore[attr-defined]
    sync_redis.Redis.from_url(url).config_set("maxmemory", "2mb")
    check = RedisCheck(url, RedisCheckSettings(memory_warn_fraction=0.1))
    try:
        result = one(await run_check(check), "redis")
    finally:
        await check.aclose()
    assert result.status is Status.WARN
    assert [b.metric for b in result.breaches] == ["redis memory"]
    assert "of maxmemory" in result.message


async def test_postgres_select_and_connections(pg_database_url: str) -> None:
    check = PostgresCheck(pg_database_url, PostgresCheckSettings())
    result = one(await run_check(check), "postgres")
    assert result.status is Status.OK
    assert result.numbers["connections"] >= 1
    assert result.numbers["max_connections"] >= 10
    assert result.message.startswith("PostgreSQL SELECT 1 ")

    crowded = PostgresCheck(pg_database_url, PostgresCheckSettings(
        connections_warn_fraction=0.0001, connections_critical_fraction=0.5))
    assert one(await run_check(crowded), "postgres").status is Status.WARN

    down = PostgresCheck(refused_url().replace("http", "postgresql") + "/x",
                         PostgresCheckSettings(timeout_s=1))
    result = one(await run_check(down), "postgres")
    assert result.status is Status.CRITICAL
    assert result.message.startswith("PostgreSQL unreachable")


async def test_ledger_backlog(tmp_path: Path) -> None:
    async def unreachable() -> Database:
        return await open_database("postgresql://postgres@127.0.0.1:1/none", tmp_path)

    config = LedgerCheckSettings(backlog_warn=2, backlog_critical=4)
    async with Ledger(unreachable, LedgerConfig(flush_interval=0.01), tmp_path / "spill") as ledger:
        check = LedgerBacklogCheck(ledger, config)
        assert one(await run_check(check), "ledger").status is Status.OK
        for i in range(5):
            ledger.record(LedgerRecord(ts=float(i), route="r", node="n", model="m",
                                       upstream_model="u"))
        await wait_until(lambda: ledger.last_error is not None, what="the ledger to fail")
        result = one(await run_check(check), "ledger")
    assert result.status is Status.CRITICAL
    assert result.numbers["backlog"] == 5
    assert result.message.startswith("ledger database unavailable")


async def test_http_endpoints(client: httpx.AsyncClient, mlx: OpenAIStandin) -> None:
    async with BlackholeServer() as hole:
        endpoints = {
            # no latency bound here: a loaded machine must not turn "ok" into "slow"
            "ok": HttpEndpoint(name="dash", url=f"{mlx.base_url}/v1/models",
                               max_latency_s=None),
            "status": HttpEndpoint(name="dash", url=f"{mlx.base_url}/nope", severity="warn"),
            "refused": HttpEndpoint(name="dash", url=refused_url()),
            "slow": HttpEndpoint(name="dash", url=f"{mlx.base_url}/v1/models",
                                 max_latency_s=0.000001),
            "timeout": HttpEndpoint(name="dash", url=hole.base_url, timeout_s=0.3),
        }
        results = {k: one(await run_check(HttpEndpointCheck(e, client)), "http/dash")
                   for k, e in endpoints.items()}
    assert results["ok"].status is Status.OK
    assert results["ok"].message.startswith("dash HTTP 200 in ")
    assert (results["status"].status, results["status"].message) == (
        Status.WARN, "dash answered HTTP 404 (expected 200)")
    assert results["refused"].status is Status.CRITICAL
    assert results["refused"].message == "dash unreachable: connection refused"
    assert results["slow"].status is Status.WARN
    assert results["slow"].breaches[0].metric == "dash latency"
    assert results["timeout"].status is Status.CRITICAL
    assert results["timeout"].message == "dash unreachable: timed out"


async def test_host_thresholds() -> None:
    calm = HostCheck(HostCheckSettings(cpu_warn_percent=None, memory_warn_percent=None,
                                       memory_critical_percent=None, disk_warn_percent=None,
                                       disk_critical_percent=None))
    results = await run_check(calm)
    assert {r.key for r in results} >= {"host/cpu", "host/memory", "host/disk:/"}
    assert all(r.status is Status.OK for r in results)
    tight = HostCheck(HostCheckSettings(memory_warn_percent=0.001, disk_critical_percent=0.001,
                                        disk_paths=("/", "/no/such/disk")))
    by_key = {r.key: r for r in await run_check(tight)}
    assert by_key["host/memory"].status is Status.WARN
    assert by_key["host/memory"].breaches[0].metric == "memory percent"
    assert by_key["host/disk:/"].status is Status.CRITICAL
    assert by_key["host/disk:/"].incident_subject == "host:disk:/"
    assert by_key["host/disk:/no/such/disk"].status is Status.WARN


def ollama_node(url: str, **settings: Any) -> NodeConfig:
    return NodeConfig.model_validate({"kind": "ollama", "base_url": url, **settings})


async def test_ollama_api(ollama: OllamaStandin) -> None:
    ollama.loaded = ["qwen2.5:14b"]
    check = OllamaCheck("ollama", ollama_node(ollama.base_url), ["qwen2.5:14b", "llama3.2"],
                        2.0)
    try:
        result = one(await run_check(check), "ollama/ollama")
        assert result.status is Status.OK
        assert result.message == "ollama: Ollama 0.12.6, 1 model(s) loaded, 3 pulled"
        assert result.numbers["models_loaded"] == 1 and result.numbers["vram_bytes"] > 0
        assert result.incident_subject == "node:ollama"
        assert {r.path for r in ollama.requests} == {"/api/version", "/api/ps", "/api/tags"}
        await ollama.stop()
        result = one(await run_check(check), "ollama/ollama")
    finally:
        await check.aclose()
    assert (result.status, result.message) == (
        Status.CRITICAL, "ollama (Ollama) unreachable: connection refused")


async def test_ollama_models_not_pulled_are_named(ollama: OllamaStandin) -> None:
    check = OllamaCheck("box", ollama_node(ollama.base_url),
                        ["qwen2.5:14b", "mistral:7b", "phi4"], 2.0)
    try:
        result = one(await run_check(check), "ollama/box")
    finally:
        await check.aclose()
    assert result.status is Status.WARN
    assert result.message.endswith("not pulled: mistral:7b, phi4 "
                                   "(ollama pull mistral:7b phi4)")


async def test_ollama_client_ignores_the_environment(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No proxy, host or key from the environment: the configured node, with its own key."""
    async with OllamaStandin(version="9.9.9") as decoy:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "OLLAMA_HOST"):
            monkeypatch.setenv(name, decoy.base_url)
        monkeypatch.setenv("OLLAMA_API_KEY", "sk-from-the-environment")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        keyed = OllamaCheck("a", ollama_node(ollama.base_url, api_key="sk-node-key"), [], 2.0)
        keyless = OllamaCheck("b", ollama_node(ollama.base_url), [], 2.0)
        try:
            first = one(await run_check(keyed), "ollama/a")
            second = one(await run_check(keyless), "ollama/b")
        finally:
            await keyed.aclose()
            await keyless.aclose()
        assert not decoy.requests
    assert "Ollama 0.12.6" in first.message and "Ollama 0.12.6" in second.message
    keys = {r.headers.get("Authorization") for r in ollama.requests}
    assert keys == {"Bearer sk-node-key", None}


async def test_ollama_tls_failure_is_named(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path / "tls")
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                        ssl=certificate.server_context())
    port = server.sockets[0].getsockname()[1]
    untrusted = OllamaCheck("tls", ollama_node(f"https://127.0.0.1:{port}"), [], 2.0)
    try:
        result = one(await run_check(untrusted), "ollama/tls")
    finally:
        await untrusted.aclose()
        server.close()
    assert result.status is Status.CRITICAL
    assert result.message.startswith("tls (Ollama) unreachable: TLS failure: certificate "
                                     "not trusted")


async def test_checks_run_concurrently_under_their_timeouts(client: httpx.AsyncClient) -> None:
    async with BlackholeServer() as hole:
        waiting = [HttpEndpointCheck(HttpEndpoint(name=f"slow{i}", url=hole.base_url,
                                                  timeout_s=60), client) for i in range(4)]
        together = asyncio.create_task(run_checks(waiting))
        async with asyncio.timeout(20):
            await hole.wait_for_connections(4)  # all four connected before any gave up
        assert not together.done()
        together.cancel()
        await asyncio.gather(together, return_exceptions=True)
        slow = [HttpEndpointCheck(HttpEndpoint(name=f"slow{i}", url=hole.base_url,
                                               timeout_s=0.5), client) for i in range(4)]
        results = await run_checks(slow)
    assert [r.status for r in results] == [Status.CRITICAL] * 4


async def test_mlx_daemon_health(client: httpx.AsyncClient, tiny_models: TinyModels,
                                 tmp_path: Path) -> None:
    settings = daemon_settings({"tiny-a": tiny_models.a}, tmp_path, memory_budget_gb=1)
    async with running(settings) as (server, _):
        url = f"{server.root_url}/health"
        check = MlxDaemonCheck(MlxDaemonCheckSettings(url=url, node="mlx"), client)
        result = one(await run_check(check), "mlx_daemon")
        assert result.status is Status.OK
        assert result.message == "mlx_daemon ok: 1 model(s) loaded"
        assert result.incident_subject == "node:mlx"
        assert result.numbers["memory_budget_bytes"] > result.numbers["memory_used_bytes"] > 0
        tight = MlxDaemonCheck(MlxDaemonCheckSettings(url=url, memory_warn_fraction=1e-6),
                               client)
        result = one(await run_check(tight), "mlx_daemon")
        assert result.status is Status.WARN
        assert result.message.startswith("mlx_daemon memory at ")
    result = one(await run_check(check), "mlx_daemon")
    assert result.status is Status.CRITICAL
    assert result.message == "mlx_daemon unreachable: connection refused"
