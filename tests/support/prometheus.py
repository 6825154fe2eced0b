"""Prometheus for tests: the real server as a subprocess, and a stand-in for bad answers.

``PrometheusProcess`` runs Debian's ``prometheus`` (2.42) with a temporary config that
scrapes the given targets every second. ``PrometheusStandin`` answers
``GET /api/v1/query`` with whatever a test sets (a value, an error, malformed JSON, a
wrong shape, or no answer at all). ``sample`` reads one value out of a ``/metrics`` page.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import ManagedProcess, free_port, http_ready

__all__ = [
    "PrometheusProcess",
    "PrometheusStandin",
    "StandinMode",
    "prometheus_binary",
    "query_value",
    "sample",
]

StandinMode = Literal["value", "empty", "error", "malformed", "wrong_shape", "hang"]


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with ``labels`` in Prometheus text, if there."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class PrometheusProcess(ManagedProcess):
    """A real Prometheus on a free loopback port, scraping ``targets`` (host:port) every 1 s."""

    def __init__(self, targets: Sequence[str], *, metrics_path: str = "/metrics") -> None:
        binary = prometheus_binary()
        if binary is None:
            raise RuntimeError("prometheus is not installed (apt-get install prometheus)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="hc-prom-"))
        config = self._dir / "prometheus.yml"
        config.write_text(_config(targets, metrics_path), encoding="utf-8")
        super().__init__(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self._dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            ready=http_ready(f"{self.url}/-/ready"), timeout=60, name="prometheus",
        )

    def stop(self) -> int | None:
        code = super().stop()
        shutil.rmtree(self._dir, ignore_errors=True)
        return code


def _config(targets: Sequence[str], metrics_path: str) -> str:
    listed = ", ".join(f"'{t}'" for t in targets)
    return (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: homecrew\n"
        f"    metrics_path: {metrics_path}\n"
        f"    static_configs:\n      - targets: [{listed}]\n"
    )


async def query_value(url: str, query: str) -> float | None:
    """The first sample of an instant query against ``url`` (None when no data yet)."""
    async with httpx.AsyncClient(timeout=5) as client:
        body = (await client.get(f"{url}/api/v1/query", params={"query": query})).json()
    result = body.get("data", {}).get("result") or []
    return float(result[0]["value"][1]) if result else None


class PrometheusStandin:
    """Answers ``/api/v1/query`` as ``mode`` says; records the queries it got."""

    def __init__(self) -> None:
        self.mode: StandinMode = "value"
        self.value = 1.0
        self.labels: dict[str, str] = {"instance": "standin:9100"}
        self.queries: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_get("/api/v1/query", self._query)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def _query(self, request: web.Request) -> web.StreamResponse:
        self.queries.append(request.query.get("query", ""))
        if self.mode == "hang":
            await self._release.wait()
        if self.mode == "malformed":
            return web.Response(text='{"status": "success", "data": {', status=200,
                                content_type="application/json")
        if self.mode == "wrong_shape":
            return web.json_response({"status": "success",
                                      "data": {"resultType": "vector", "result": [{"x": 1}]}})
        if self.mode == "error":
            return web.json_response({"status": "error", "errorType": "bad_data",
                                      "error": "parse error at char 3"}, status=400)
        result: list[dict[str, Any]] = []
        if self.mode == "value":
            result = [{"metric": self.labels, "value": [1764057600.0, repr(self.value)]}]
        return web.json_response({"status": "success",
                                  "data": {"resultType": "vector", "result": result}})
