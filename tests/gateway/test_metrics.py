"""``GET /metrics`` of the gateway: the chain's attempts per route, node and key, and the
HTTP requests, scraped from a running aiohttp app and parsed as Prometheus text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.errors import Forbidden
from gateway.metrics import GatewayMetrics, request_metrics, routes
from inference.config import HealthConfig
from inference.errors import NodeTimeout
from inference.health import HealthBoard
from inference.records import LedgerRecord
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message
from tests.support.prometheus import sample
from tests.support.stack import make_settings
from tests.support.standins import HttpError, OllamaStandin, OpenAIStandin, Script


@pytest.fixture
async def served() -> AsyncIterator[tuple[GatewayMetrics, str, asyncio.Event]]:
    """An app with ``/metrics``, the request middleware and two plain handlers; yields the
    metrics, the base URL and an event set when ``/slow`` is cancelled."""
    metrics = GatewayMetrics()
    cancelled = asyncio.Event()

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def refused(request: web.Request) -> web.Response:
        raise Forbidden("key 'bob' may not use route 'smart-agent'")

    async def slow(request: web.Request) -> web.Response:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    @web.middleware
    async def errors(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                     ) -> web.StreamResponse:
        try:
            return await handler(request)
        except Forbidden as exc:
            return web.json_response({"error": exc.message}, status=exc.status)

    app = web.Application(middlewares=[errors, request_metrics(metrics)])
    app.add_routes([web.post("/v1/things/{name}", ok), web.get("/refused", refused),
                    web.get("/slow", slow), *routes(metrics)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield metrics, f"http://127.0.0.1:{port}", cancelled
    finally:
        await runner.cleanup()


async def scrape(session: aiohttp.ClientSession, base: str) -> str:
    async with session.get(f"{base}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        return await response.text()


async def test_chain_records_per_route_node_and_key_are_scraped(
        tmp_path: Path, served: tuple[GatewayMetrics, str, asyncio.Event]) -> None:
    metrics, base, _ = served
    async with OpenAIStandin(script=Script(reply="from mlx")) as mlx, \
            OllamaStandin(script=Script(reply="from ollama")) as ollama:
        settings = make_settings(
            nodes={"mlx": {"kind": "openai", "base_url": f"{mlx.base_url}/v1", "probe": False},
                   "ollama": {"kind": "ollama", "base_url": ollama.base_url, "probe": False}},
            models={"m": {"node": "mlx", "model": "mlx-community/Qwen2.5-14B-Instruct-4bit"},
                    "o": {"node": "ollama", "model": "qwen2.5:14b"}},
            routes={"smart-agent": ["m", "o"]},
            data_dir=tmp_path,
            timeouts={"hedge_after": "off"},
        )
        async with InferenceStack.open(settings, probes=False) as stack:
            stack.sink.add(metrics)
            hello = [Message("user", "hi")]
            alice = ChatRequest(route="smart-agent", messages=hello, key_name="alice")
            assert (await stack.complete(alice)).node == "mlx"
            assert (await stack.complete(alice)).cached
            mlx.queue(Script(failure=HttpError(500)))
            bob = ChatRequest(route="smart-agent", messages=[Message("user", "other")],
                              key_name="bob")
            assert (await stack.complete(bob)).node == "ollama"
    metrics.record(LedgerRecord(ts=1.0, route="smart-agent", node="anthropic", model="claude",
                                upstream_model="claude-sonnet-4-5", key_name="bob",
                                latency_s=0.7, ttft_s=0.2, prompt_tokens=100,
                                completion_tokens=50, cost_usd=0.0125, cloud=True))

    async with aiohttp.ClientSession() as session:
        text = await scrape(session, base)
    ok = {"route": "smart-agent", "node": "mlx", "key": "alice"}
    assert sample(text, "homecrew_llm_requests_total", **ok, outcome="ok") == 1
    assert sample(text, "homecrew_llm_requests_total", **ok, outcome="cache_hit") == 1
    assert sample(text, "homecrew_llm_latency_seconds_count", **ok) == 1
    assert sample(text, "homecrew_llm_ttft_seconds_count", **ok) == 1
    assert (sample(text, "homecrew_llm_tokens_total", **ok, kind="completion") or 0) > 0
    failed = {"route": "smart-agent", "node": "mlx", "key": "bob"}
    assert sample(text, "homecrew_llm_requests_total", **failed, outcome="unavailable") == 1
    assert sample(text, "homecrew_llm_errors_total", **failed, kind="unavailable") == 1
    assert sample(text, "homecrew_llm_requests_total", node="ollama", key="bob",
                  outcome="ok") == 1
    assert sample(text, "homecrew_llm_errors_total", key="alice") is None
    assert sample(text, "homecrew_llm_cost_usd_total", node="anthropic", key="bob") == 0.0125
    assert sample(text, "homecrew_llm_tokens_total", node="anthropic", key="bob",
                  kind="prompt") == 100
    assert sample(text, "homecrew_llm_ttft_seconds_sum", node="anthropic") == 0.2
    assert REGISTRY.get_sample_value("homecrew_llm_requests_total") is None, "no globals"


async def test_http_requests_by_endpoint_and_status(
        served: tuple[GatewayMetrics, str, asyncio.Event]) -> None:
    _, base, cancelled = served
    async with aiohttp.ClientSession() as session:
        for name in ("a", "b"):
            async with session.post(f"{base}/v1/things/{name}") as response:
                assert response.status == 200
        async with session.get(f"{base}/refused") as response:
            assert response.status == 403
        async with session.get(f"{base}/no/such/path") as response:
            assert response.status == 404
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2), session.get(f"{base}/slow"):
                pass
        async with asyncio.timeout(5):
            await cancelled.wait()
        text = await scrape(session, base)
    assert sample(text, "homecrew_http_requests_total", endpoint="/v1/things/{name}",
                  method="POST", status="200") == 2
    assert sample(text, "homecrew_http_request_duration_seconds_count",
                  endpoint="/v1/things/{name}", method="POST") == 2
    assert sample(text, "homecrew_http_requests_total", endpoint="/refused",
                  status="403") == 1
    assert sample(text, "homecrew_http_requests_total", endpoint="unmatched",
                  status="404") == 1
    assert sample(text, "homecrew_http_requests_total", endpoint="/slow", status="499") == 1


async def test_node_up_follows_the_board_at_scrape_time() -> None:
    board = HealthBoard(HealthConfig(), ["mlx", "ollama"])
    metrics = GatewayMetrics()
    app = web.Application()
    app.add_routes(routes(metrics, before_scrape=lambda: metrics.observe_health(
        board.snapshot())))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            board.record_failure("mlx", NodeTimeout("slow"))
            text = await scrape(session, base)
            assert sample(text, "homecrew_node_up", node="mlx") == 0
            assert sample(text, "homecrew_node_up", node="ollama") == 1
            board.report_remote("ollama", "replica-b", down=True, detail="refused", ttl=60)
            text = await scrape(session, base)
            assert sample(text, "homecrew_node_up", node="ollama") == 0
    finally:
        await runner.cleanup()
