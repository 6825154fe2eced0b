"""Prometheus metrics of the stack and the watch, on a private registry.

:class:`WatchMetrics` is a record sink (add it to the stack's ``FanOut``) for requests,
latency, time to first token, tokens, cost, cache hits and fallbacks; the watch feeds it
node health, check states, open incidents, scheduler job runs and posts.
:class:`MetricsServer` serves ``/metrics`` on a local port from the running event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from inference.health import CircuitState, NodeHealth
from inference.records import LedgerRecord
from watch.incidents import Incident
from watch.results import CheckResult, Status

__all__ = ["MetricsServer", "WatchMetrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 30, 60)
_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)


class WatchMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter("homecrew_requests", "Attempts by route, node, agent and outcome",
                                ["route", "node", "agent", "outcome"], registry=r)
        self.latency = Histogram("homecrew_request_latency_seconds",
                                 "Latency of answered attempts", ["route", "node"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("homecrew_ttft_seconds", "Time to first token", ["route", "node"],
                              buckets=_TTFT_BUCKETS, registry=r)
        self.tokens = Counter("homecrew_tokens", "Tokens by node and kind (prompt/completion)",
                              ["node", "kind"], registry=r)
        self.cost = Counter("homecrew_cost_usd", "Spend in USD by node and agent",
                            ["node", "agent"], registry=r)
        self.cache_hits = Counter("homecrew_cache_hits", "Replies served from the cache",
                                  ["route"], registry=r)
        self.fallbacks = Counter("homecrew_fallbacks",
                                 "Replies answered by a fallback step", ["route"], registry=r)
        self._health_metrics(r)

    def _health_metrics(self, r: CollectorRegistry) -> None:
        self.node_up = Gauge("homecrew_node_up", "1 while the node's circuit is not open",
                             ["node"], registry=r)
        self.node_circuit = Gauge("homecrew_node_circuit_state",
                                  "0 closed, 1 half-open, 2 open", ["node"], registry=r)
        self.node_probe_latency = Gauge("homecrew_node_probe_latency_seconds",
                                        "Last health probe latency", ["node"], registry=r)
        self.check_status = Gauge("homecrew_check_status", "0 ok, 1 warn, 2 critical",
                                  ["check", "key"], registry=r)
        self.open_incidents = Gauge("homecrew_open_incidents", "Open incidents by severity",
                                    ["severity"], registry=r)
        self.job_runs = Counter("homecrew_scheduler_job_runs", "Scheduler job runs",
                                ["job", "status"], registry=r)
        self.posts = Counter("homecrew_watch_posts", "Chief's posts by kind and result",
                             ["kind", "status"], registry=r)
        self.sweep_seconds = Gauge("homecrew_watch_sweep_seconds",
                                   "Duration of the last health sweep", registry=r)
        for severity in ("warn", "critical"):
            self.open_incidents.labels(severity=severity).set(0)

    # -- the record sink -------------------------------------------------------------------
    def record(self, record: LedgerRecord) -> None:
        agent = record.agent or "-"
        self.requests.labels(route=record.route, node=record.node, agent=agent,
                             outcome=record.outcome).inc()
        if record.outcome == "cache_hit":
            self.cache_hits.labels(route=record.route).inc()
            return
        if record.outcome != "ok":
            return
        self.latency.labels(route=record.route, node=record.node).observe(record.latency_s)
        if record.ttft_s is not None:
            self.ttft.labels(route=record.route, node=record.node).observe(record.ttft_s)
        self.tokens.labels(node=record.node, kind="prompt").inc(record.prompt_tokens)
        self.tokens.labels(node=record.node, kind="completion").inc(record.completion_tokens)
        if record.cost_usd > 0:
            self.cost.labels(node=record.node, agent=agent).inc(record.cost_usd)
        if record.fallback_depth > 0:
            self.fallbacks.labels(route=record.route).inc()

    # -- state fed by the watch ------------------------------------------------------------
    def observe_board(self, nodes: Mapping[str, NodeHealth]) -> None:
        states = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}
        for name, health in nodes.items():
            self.node_up.labels(node=name).set(1 if health.up else 0)
            self.node_circuit.labels(node=name).set(states[health.state])
            if health.probe_latency_s is not None:
                self.node_probe_latency.labels(node=name).set(health.probe_latency_s)

    def observe_results(self, results: Iterable[CheckResult]) -> None:
        for result in results:
            self.check_status.labels(check=result.check, key=result.key).set(int(result.status))

    def observe_incidents(self, incidents: Sequence[Incident]) -> None:
        for status in (Status.WARN, Status.CRITICAL):
            count = sum(1 for i in incidents if i.severity is status)
            self.open_incidents.labels(severity=status.label).set(count)

    def job_ran(self, job: str, status: str) -> None:
        self.job_runs.labels(job=job, status=status).inc()

    def posted(self, kind: str, ok: bool) -> None:
        self.posts.labels(kind=kind, status="ok" if ok else "failed").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """``GET /metrics`` (Prometheus text format) on ``host:port``; port 0 picks a free one."""

    def __init__(
        self,
        metrics: WatchMetrics,
        *,
        host: str = "127.0.0.1",
        port: int = 9464,
        before_scrape: Callable[[], None] | None = None,
    ) -> None:
        self._metrics = metrics
        self._host = host
        self._port = port
        self._before = before_scrape
        self._runner: web.AppRunner | None = None
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/metrics"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve(self, request: web.Request) -> web.Response:
        if self._before is not None:
            self._before()
        response = web.Response(body=self._metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
