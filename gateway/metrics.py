"""Prometheus metrics of the gateway: the chain's attempts and the HTTP requests.

:class:`GatewayMetrics` owns a private ``CollectorRegistry`` (no global state). It is an
inference record sink (``stack.sink.add(metrics)``): every attempt the chain records
counts, per route, node and key, in

* ``homecrew_llm_requests_total`` by ``outcome`` (``ok``, ``cache_hit``, ``cancelled`` or
  the failing step's kind), and ``homecrew_llm_errors_total`` for the failed ones by
  ``kind``;
* ``homecrew_llm_latency_seconds`` (answered attempts) and ``homecrew_llm_ttft_seconds``
  (time to first token) histograms;
* ``homecrew_llm_tokens_total`` by ``kind`` (prompt / completion; not for cache hits) and
  ``homecrew_llm_cost_usd_total``.

The HTTP layer reports each request (:meth:`GatewayMetrics.observe_request`, or the
:func:`request_metrics` middleware) in ``homecrew_http_requests_total`` (by endpoint, method
and status; 499: the client went away) and ``homecrew_http_request_duration_seconds``.
``homecrew_node_up`` follows the health board at scrape time (``before_scrape``).
:func:`routes` serves ``GET /metrics`` in the Prometheus text format.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.errors import GatewayError
from inference.health import NodeHealth
from inference.records import LedgerRecord

__all__ = ["GatewayMetrics", "add_routes", "request_metrics", "routes"]

NO_KEY = "-"  # records without a key (e.g. Discord traffic in a bot that serves too)
UNMATCHED = "unmatched"  # requests that matched no route (one label, not one per path)
CLIENT_GONE = 499  # the client disconnected before the answer was complete

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 30, 60, 120)
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30,
                 60, 120)
_NOT_ERRORS = frozenset({"ok", "cache_hit", "cancelled"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class GatewayMetrics:
    """The gateway's metrics on their own registry; a record sink for the chain."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        labels = ["route", "node", "key"]
        self.requests = Counter("homecrew_llm_requests", "Chain attempts by outcome",
                                [*labels, "outcome"], registry=r)
        self.errors = Counter("homecrew_llm_errors", "Failed chain attempts by error kind",
                              [*labels, "kind"], registry=r)
        self.latency = Histogram("homecrew_llm_latency_seconds", "Latency of answered attempts",
                                 labels, buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("homecrew_llm_ttft_seconds", "Time to first token", labels,
                              buckets=_TTFT_BUCKETS, registry=r)
        self.tokens = Counter("homecrew_llm_tokens", "Tokens by kind (prompt / completion)",
                              [*labels, "kind"], registry=r)
        self.cost = Counter("homecrew_llm_cost_usd", "Spend in USD", labels, registry=r)
        self.http_requests = Counter("homecrew_http_requests", "HTTP requests by status",
                                     ["endpoint", "method", "status"], registry=r)
        self.http_duration = Histogram("homecrew_http_request_duration_seconds",
                                       "Time to answer an HTTP request (a stream: all of it)",
                                       ["endpoint", "method"], buckets=_HTTP_BUCKETS,
                                       registry=r)
        self.node_up = Gauge("homecrew_node_up",
                             "1 while this replica would send requests to the node", ["node"],
                             registry=r)

    # -- the record sink -------------------------------------------------------------------
    def record(self, record: LedgerRecord) -> None:
        route, node, key = record.route, record.node, record.key_name or NO_KEY
        self.requests.labels(route, node, key, record.outcome).inc()
        if record.outcome not in _NOT_ERRORS:
            self.errors.labels(route, node, key, record.outcome).inc()
        if record.outcome == "ok":
            self.latency.labels(route, node, key).observe(record.latency_s)
        if record.ttft_s is not None and record.outcome != "cache_hit":
            self.ttft.labels(route, node, key).observe(record.ttft_s)
        if record.outcome != "cache_hit":
            if record.prompt_tokens:
                self.tokens.labels(route, node, key, "prompt").inc(record.prompt_tokens)
            if record.completion_tokens:
                self.tokens.labels(route, node, key, "completion").inc(record.completion_tokens)
        if record.cost_usd > 0:
            self.cost.labels(route, node, key).inc(record.cost_usd)

    # -- the HTTP layer --------------------------------------------------------------------
    def observe_request(self, endpoint: str, method: str, status: int,
                        duration_s: float) -> None:
        """One HTTP request: ``endpoint`` is the route's pattern (e.g.
        ``/v1/chat/completions``), never the raw path."""
        self.http_requests.labels(endpoint, method, str(status)).inc()
        self.http_duration.labels(endpoint, method).observe(duration_s)

    def observe_health(self, nodes: Mapping[str, NodeHealth]) -> None:
        for name, health in nodes.items():
            self.node_up.labels(name).set(1 if health.up else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def routes(metrics: GatewayMetrics, *,
           before_scrape: Callable[[], None] | None = None) -> list[web.RouteDef]:
    """``GET /metrics``; ``before_scrape`` runs first (e.g. to read the health board)."""

    async def scrape(request: web.Request) -> web.Response:
        if before_scrape is not None:
            before_scrape()
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return [web.get("/metrics", scrape)]


def add_routes(app: web.Application, metrics: GatewayMetrics, *,
               before_scrape: Callable[[], None] | None = None) -> None:
    app.add_routes(routes(metrics, before_scrape=before_scrape))


def request_metrics(metrics: GatewayMetrics) -> Any:
    """An aiohttp middleware reporting every request to ``metrics`` (place it inside the
    middleware that turns errors into answers, so it sees the errors' statuses)."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except GatewayError as exc:
            status = exc.status
            raise
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_GONE
            raise
        finally:
            metrics.observe_request(_endpoint(request), request.method, status,
                                    time.perf_counter() - started)

    return observe


def _endpoint(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    if resource is None or isinstance(request.match_info.http_exception, web.HTTPException):
        return UNMATCHED
    return resource.canonical
