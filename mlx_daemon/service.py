"""The daemon object: settings, model registry, compute worker, metrics and log, wired.

All state lives here (created at start-up, no module globals). The HTTP layer
(:mod:`mlx_daemon.http_api`) only translates between requests and these methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import mlx.core as mx

from mlx_daemon.config import MlxDaemonSettings
from mlx_daemon.errors import model_not_found
from mlx_daemon.jobs import EventChannel, Job, JobIds
from mlx_daemon.logs import DaemonLog
from mlx_daemon.metrics import DaemonMetrics
from mlx_daemon.protocol import GenerationRequest
from mlx_daemon.registry import ModelRegistry
from mlx_daemon.worker import ComputeWorker

__all__ = ["Daemon"]

log = logging.getLogger(__name__)


def _fingerprint() -> str:
    try:
        from importlib.metadata import version

        return f"homecrew-mlx-lm-{version('mlx-lm')}"
    except Exception:
        return "homecrew-mlx-lm"


class Daemon:
    """One running MLX API service (minus the HTTP listener)."""

    def __init__(self, settings: MlxDaemonSettings) -> None:
        self.settings = settings
        self.metrics = DaemonMetrics(settings.models)
        self.metrics.set_mlx_memory_source(lambda: float(mx.get_active_memory()))
        self.registry = ModelRegistry(settings, self.metrics)
        self.fingerprint = _fingerprint()
        self._log = DaemonLog(settings)
        self._ids = JobIds()
        self._started = time.monotonic()
        self._worker: ComputeWorker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._crashed: asyncio.Event | None = None

    @property
    def worker(self) -> ComputeWorker:
        if self._worker is None:
            raise RuntimeError("the daemon is not started")
        return self._worker

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._crashed = asyncio.Event()
        self._log.open()
        self._worker = ComputeWorker(
            self.settings, self.registry, self.metrics, on_crash=self._worker_crashed
        )
        self._worker.start()
        self._worker.preload(self.settings.preload)
        self._started = time.monotonic()
        log.info(
            "mlx daemon starting: models=%s preload=%s budget=%s GiB batch=%d queue=%d auth=%s",
            ", ".join(self.settings.models), ", ".join(self.settings.preload) or "-",
            self.settings.memory_budget_gb or "unlimited", self.settings.max_batch_size,
            self.settings.queue_size, "on" if self.settings.api_key else "off",
        )  # fmt: skip

    async def stop(self) -> None:
        if self._worker is not None:
            await asyncio.to_thread(self._worker.stop)
        log.info("mlx daemon stopped")
        self._log.close()

    def _worker_crashed(self, exc: BaseException) -> None:
        """Called on the worker thread if it dies: make the process exit (launchd restarts)."""
        if self._loop is not None and self._crashed is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._crashed.set)

    async def wait_crashed(self) -> None:
        assert self._crashed is not None
        await self._crashed.wait()

    def submit(self, request: GenerationRequest) -> Job:
        """Queue a request: 404 for an unknown model, 503 when its queue is full."""
        if request.model not in self.registry:
            raise model_not_found(request.model, self.registry.model_ids())
        job = Job(self._ids.next(), request, EventChannel(asyncio.get_running_loop()))
        self.worker.submit(job)
        return job

    def cancel(self, job: Job) -> None:
        self.worker.cancel(job)

    def record(self, model: str, status: str, seconds: float) -> None:
        label = model if model in self.registry else "-"
        self.metrics.requests.labels(model=label, status=status).inc()
        if label != "-":
            self.metrics.duration.labels(model=label).observe(seconds)

    # ---------------------------------------------------------------- reports

    def models_listing(self) -> dict[str, Any]:
        created = int(time.time() - (time.monotonic() - self._started))
        return {
            "object": "list",
            "data": [
                {
                    "id": status.model_id,
                    "object": "model",
                    "created": created,
                    "owned_by": "homecrew",
                    "loaded": status.loaded,
                    "state": status.state.value,
                    "context_length": status.context_length,
                }
                for status in self.registry.snapshot()
            ],
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        alive = self._worker is not None and self._worker.alive
        queues = self._worker.queue_status() if self._worker is not None else {}
        models: dict[str, Any] = {}
        for status in self.registry.snapshot():
            queue = queues.get(status.model_id)
            models[status.model_id] = {
                "state": status.state.value,
                "loaded": status.loaded,
                "memory_bytes": status.memory_bytes,
                "context_length": status.context_length,
                "loads": status.loads,
                "evictions": status.evictions,
                "active": queue.active if queue else 0,
                "queued": queue.queued if queue else 0,
                "last_error": status.last_error,
            }
        preloading = self._worker is not None and self._worker.preloading
        body = {
            "status": "ok" if alive else "error",
            "worker_alive": alive,
            "ready": alive and not preloading,
            "uptime_seconds": round(time.monotonic() - self._started, 3),
            "models": models,
            "memory": {
                "budget_bytes": self.registry.budget_bytes,
                "used_bytes": self.registry.used_bytes(),
                "mlx_active_bytes": int(mx.get_active_memory()),
                "mlx_peak_bytes": int(mx.get_peak_memory()),
            },
            "queue": {
                "active": sum(q.active for q in queues.values()),
                "queued": sum(q.queued for q in queues.values()),
                "max_batch_size": self.settings.max_batch_size,
                "queue_size": self.settings.queue_size,
            },
        }
        return alive, body
