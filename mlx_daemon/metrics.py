"""Prometheus metrics of one daemon, in its own registry (never the global default)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "DaemonMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_LOAD_BUCKETS = (0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class DaemonMetrics:
    """Every metric the daemon exports; safe to update from any thread."""

    def __init__(self, models: Iterable[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mlx_daemon_requests", "Chat completion requests by outcome",
            ["model", "status"], registry=r,
        )  # fmt: skip
        self.prompt_tokens = Counter(
            "mlx_daemon_prompt_tokens", "Prompt tokens processed", ["model"], registry=r
        )
        self.cached_prompt_tokens = Counter(
            "mlx_daemon_cached_prompt_tokens", "Prompt tokens reused from the prompt cache",
            ["model"], registry=r,
        )  # fmt: skip
        self.prompt_cache_bytes = Gauge(
            "mlx_daemon_prompt_cache_bytes", "Bytes of KV caches kept for reuse",
            ["model"], registry=r,
        )  # fmt: skip
        self.generated_tokens = Counter(
            "mlx_daemon_generated_tokens", "Tokens generated", ["model"], registry=r
        )
        self.tokens_per_second = Gauge(
            "mlx_daemon_tokens_per_second", "Generation rate over the last second",
            ["model"], registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "mlx_daemon_time_to_first_token_seconds", "Request arrival to first token",
            ["model"], buckets=_TTFT_BUCKETS, registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "mlx_daemon_request_duration_seconds", "Request arrival to last byte",
            ["model"], buckets=_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "mlx_daemon_queue_depth", "Requests waiting for a batch slot", ["model"], registry=r
        )
        self.active = Gauge(
            "mlx_daemon_active_requests", "Requests being generated", ["model"], registry=r
        )
        self.loads = Counter(
            "mlx_daemon_model_loads", "Model load attempts by outcome",
            ["model", "outcome"], registry=r,
        )  # fmt: skip
        self.load_seconds = Histogram(
            "mlx_daemon_model_load_seconds", "Time to load a model",
            ["model"], buckets=_LOAD_BUCKETS, registry=r,
        )  # fmt: skip
        self.evictions = Counter(
            "mlx_daemon_model_evictions", "Models evicted to fit the memory budget",
            ["model"], registry=r,
        )  # fmt: skip
        self.loaded = Gauge(
            "mlx_daemon_model_loaded", "1 when the model is resident", ["model"], registry=r
        )
        self.memory_used = Gauge(
            "mlx_daemon_memory_used_bytes", "Estimated bytes of resident models", registry=r
        )
        self.memory_budget = Gauge(
            "mlx_daemon_memory_budget_bytes", "Configured memory budget (0: none)", registry=r
        )
        self.mlx_active = Gauge(
            "mlx_daemon_mlx_active_memory_bytes", "Memory MLX reports as active", registry=r
        )
        for model in models:
            self._touch(model)

    def _touch(self, model: str) -> None:
        """Create the per-model series at zero so they show before the first event."""
        for metric in (self.prompt_tokens, self.generated_tokens, self.cached_prompt_tokens):
            metric.labels(model=model)
        gauges = (self.tokens_per_second, self.queue_depth, self.active, self.loaded,
                  self.prompt_cache_bytes)  # fmt: skip
        for gauge in gauges:
            gauge.labels(model=model).set(0)
        self.evictions.labels(model=model)
        self.loads.labels(model=model, outcome="success")

    def set_mlx_memory_source(self, read: Callable[[], float]) -> None:
        self.mlx_active.set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
