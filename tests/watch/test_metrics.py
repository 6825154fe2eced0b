"""``/metrics`` in Prometheus text format from the stack's records, the board and the watch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client import REGISTRY

from inference.records import LedgerRecord
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message
from tests.support.prometheus import sample
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin
from tests.watch.helpers import Clock, RecordingPoster, make_settings
from watch.engine import Watch
from watch.metrics import WatchMetrics
from watch.scheduler import DAILY_JOB


def test_records_become_series_on_a_private_registry() -> None:
    metrics = WatchMetrics()
    base = {"ts": 1.0, "route": "smart-agent", "upstream_model": "u", "agent": "skip"}
    metrics.record(LedgerRecord(node="mlx", model="mlx-qwen", latency_s=1.2, ttft_s=0.3,
                                prompt_tokens=10, completion_tokens=20, **base))
    metrics.record(LedgerRecord(node="anthropic", model="claude", latency_s=0.7, ttft_s=0.2,
                                cost_usd=0.25, fallback_depth=2, cloud=True, **base))
    metrics.record(LedgerRecord(node="mlx", model="mlx-qwen", outcome="cache_hit",
                                cache_hit=True, **base))
    metrics.record(LedgerRecord(node="mlx", model="mlx-qwen", outcome="timeout", **base))
    text = metrics.render().decode()
    assert sample(text, "homecrew_requests_total", node="mlx", outcome="ok", agent="skip") == 1
    assert sample(text, "homecrew_requests_total", node="mlx", outcome="timeout") == 1
    assert sample(text, "homecrew_request_latency_seconds_count", node="mlx") == 1
    assert sample(text, "homecrew_ttft_seconds_sum", node="anthropic") == 0.2
    assert sample(text, "homecrew_tokens_total", node="mlx", kind="completion") == 20
    assert sample(text, "homecrew_cost_usd_total", node="anthropic", agent="skip") == 0.25
    assert sample(text, "homecrew_cache_hits_total", route="smart-agent") == 1
    assert sample(text, "homecrew_fallbacks_total", route="smart-agent") == 1
    assert REGISTRY.get_sample_value("homecrew_requests_total") is None


async def test_metrics_endpoint_of_a_running_watch(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = make_settings(mlx_url=mlx.base_url, ollama_url=ollama.base_url,
                             anthropic_url=claude.base_url, data_dir=tmp_path,
                             watch={"metrics": {"enabled": True, "port": 0}})
    clock = Clock()
    async with (
        InferenceStack.open(settings) as stack,
        Watch.open(settings, settings.watch, stack=stack, poster=RecordingPoster(),
                   clock=clock, schedule=False) as watch,
        httpx.AsyncClient() as client,
    ):
        assert watch.metrics_server is not None
        await stack.complete(ChatRequest(route="smart-agent", agent="skip",
                                         messages=[Message("user", "hi")]))
        await mlx.stop()
        async with asyncio.timeout(10):
            await stack.board.wait_for(lambda b: not b.get("mlx").up)
        for _ in range(3):
            await watch.sweep(clock.advance(60))
        assert await watch.reports.run(DAILY_JOB, clock()) == "posted"
        response = await client.get(watch.metrics_server.url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample(text, "homecrew_requests_total", node="mlx", agent="skip", outcome="ok") == 1
    assert sample(text, "homecrew_node_up", node="mlx") == 0
    assert sample(text, "homecrew_node_up", node="ollama") == 1
    assert sample(text, "homecrew_node_circuit_state", node="mlx") == 2
    assert sample(text, "homecrew_open_incidents", severity="critical") == 1
    assert sample(text, "homecrew_check_status", key="node/mlx") == 2
    assert sample(text, "homecrew_scheduler_job_runs_total", job=DAILY_JOB,
                  status="posted") == 1
    assert sample(text, "homecrew_watch_posts_total", kind="report", status="ok") == 1
    assert sample(text, "homecrew_watch_posts_total", kind="red_alert", status="ok") == 1
