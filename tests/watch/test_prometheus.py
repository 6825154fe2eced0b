"""Prometheus instant queries with thresholds: a real Prometheus scraping the watch's own
``/metrics``, and a stand-in only for malformed answers and timeouts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inference.health import CircuitState, NodeHealth
from inference.records import LedgerRecord
from tests.support.prometheus import (
    PrometheusProcess,
    PrometheusStandin,
    prometheus_binary,
    query_value,
)
from tests.watch.helpers import wait_until
from watch.checks import PrometheusCheck
from watch.metrics import MetricsServer, WatchMetrics
from watch.results import CheckResult, Status, run_check
from watch.settings import PrometheusCheckSettings, PrometheusQuery


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as opened:
        yield opened


@pytest.fixture
async def exporter() -> AsyncIterator[tuple[WatchMetrics, MetricsServer]]:
    metrics = WatchMetrics()
    metrics.observe_board({
        "mlx": NodeHealth("mlx", CircuitState.OPEN),
        "ollama": NodeHealth("ollama", probe_latency_s=0.04),
    })
    metrics.open_incidents.labels(severity="critical").set(2)
    async with MetricsServer(metrics, port=0) as server:
        yield metrics, server


@pytest.fixture
def prometheus(exporter: tuple[WatchMetrics, MetricsServer]) -> Iterator[PrometheusProcess]:
    if prometheus_binary() is None:
        pytest.skip("the prometheus binary is not installed (apt-get install -y prometheus)")
    _, server = exporter
    with PrometheusProcess([f"127.0.0.1:{server.port}"]) as process:
        yield process


def keyed(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.key: r for r in results}


async def test_real_prometheus_scraping_the_watch_metrics(
    prometheus: PrometheusProcess, client: httpx.AsyncClient
) -> None:
    async def scraped() -> bool:
        return await query_value(prometheus.url, "min(homecrew_node_up)") == 0.0

    await wait_until(scraped, within=30, what="Prometheus to scrape the watch")
    queries = (
        PrometheusQuery(name="nodes-up", query="min by (instance) (homecrew_node_up)",
                        critical_below=1),
        PrometheusQuery(name="critical-incidents",
                        query='homecrew_open_incidents{severity="critical"}', warn_above=0,
                        critical_above=5),
        PrometheusQuery(name="probe-latency", query="max(homecrew_node_probe_latency_seconds)",
                        warn_above=1.0, unit=" s"),
        PrometheusQuery(name="absent", query="homecrew_no_such_series", when_empty="ok"),
        PrometheusQuery(name="bad-promql", query="sum(", warn_above=1),
    )
    check = PrometheusCheck(PrometheusCheckSettings(url=prometheus.url, queries=queries), client)
    results = keyed(await run_check(check))

    nodes = results["prometheus/nodes-up"]
    assert nodes.status is Status.CRITICAL
    assert nodes.incident_subject == "prometheus:nodes-up"
    assert [b.threshold for b in nodes.breaches] == [1.0]
    assert nodes.breaches[0].where.startswith("127.0.0.1:")
    incidents = results["prometheus/critical-incidents"]
    assert (incidents.status, incidents.numbers["value"]) == (Status.WARN, 2.0)
    assert results["prometheus/probe-latency"].status is Status.OK
    assert results["prometheus/probe-latency"].message == "probe-latency: 0.04 s"
    assert results["prometheus/absent"].status is Status.OK
    bad = results["prometheus/bad-promql"]
    assert bad.status is Status.WARN
    assert bad.message.startswith("bad-promql: query failed:")
    assert "parse error" in bad.message


@pytest.fixture
async def standin() -> AsyncIterator[PrometheusStandin]:
    async with PrometheusStandin() as server:
        yield server


@pytest.mark.parametrize(("mode", "expected"), [
    ("malformed", "memory: query failed: answer is not JSON"),
    ("wrong_shape", "memory: query failed: malformed series in answer"),
    ("error", "memory: query failed: parse error at char 3"),
    ("empty", "memory: no data"),
])
async def test_malformed_and_error_answers_warn(
    standin: PrometheusStandin, client: httpx.AsyncClient, mode: str, expected: str
) -> None:
    standin.mode = mode  # type: ignore[assignment]
    query = PrometheusQuery(name="memory", query="node_memory_used_ratio", warn_above=0.9)
    check = PrometheusCheck(PrometheusCheckSettings(url=standin.url, queries=(query,)), client)
    results = keyed(await run_check(check))
    assert results["prometheus/memory"].status is Status.WARN
    assert results["prometheus/memory"].message == expected
    assert standin.queries == ["node_memory_used_ratio"]


async def test_thresholds_and_timeout(standin: PrometheusStandin,
                                      client: httpx.AsyncClient) -> None:
    query = PrometheusQuery(name="memory", query="node_memory_used_ratio", warn_above=0.9,
                            critical_above=0.95)
    config = PrometheusCheckSettings(url=standin.url, queries=(query,), timeout_s=0.5)
    check = PrometheusCheck(config, client)
    for value, status in ((0.5, Status.OK), (0.93, Status.WARN), (0.97, Status.CRITICAL)):
        standin.value = value
        result = keyed(await run_check(check))["prometheus/memory"]
        assert result.status is status
    assert result.message == "memory on standin:9100: 0.97 (threshold 0.95)"

    standin.mode = "hang"
    result = keyed(await run_check(check))["prometheus/memory"]
    assert result.status is Status.WARN
    assert result.message == "memory: Prometheus timed out"


REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "homecrew-watch.json"


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    return [e.replace("$__rate_interval", "1m").replace("$cloud_nodes", "anthropic")
            for e in exprs]


def test_dashboard_uses_only_series_the_watch_exports() -> None:
    metrics = WatchMetrics()
    metrics.record(LedgerRecord(ts=1.0, route="r", node="n", model="m", upstream_model="u",
                                ttft_s=0.1, cost_usd=0.1, fallback_depth=1))
    metrics.record(LedgerRecord(ts=1.0, route="r", node="n", model="m", upstream_model="u",
                                outcome="cache_hit"))
    metrics.observe_board({"n": NodeHealth("n", probe_latency_s=0.1)})
    metrics.check_status.labels(check="c", key="k").set(0)
    metrics.job_ran("j", "ok")
    metrics.posted("report", True)
    exported = {s.name for f in text_string_to_metric_families(metrics.render().decode())
                for s in f.samples}
    used = {name for expr in dashboard_queries() for name in re.findall(r"homecrew_\w+", expr)}
    assert used and used <= exported, used - exported


def test_prometheus_scrape_example_is_valid() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (it comes with apt-get install -y prometheus)")
    checked = subprocess.run([promtool, "check", "config",
                              str(REPO / "deploy" / "prometheus" / "prometheus.yml")],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_dashboard_queries_are_valid_promql(
    prometheus: PrometheusProcess, client: httpx.AsyncClient
) -> None:
    for expr in dashboard_queries():
        response = await client.get(f"{prometheus.url}/api/v1/query", params={"query": expr})
        assert response.json()["status"] == "success", (expr, response.text)
