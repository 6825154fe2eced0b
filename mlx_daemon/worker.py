"""The compute worker: one thread that does all MLX work (loads, evictions, generation).

The event loop talks to it through a condition-guarded inbox (:meth:`ComputeWorker.submit`,
:meth:`ComputeWorker.cancel`, :meth:`ComputeWorker.preload`) and never blocks on MLX.
Admission control is synchronous: a model whose batch and queue are full refuses the
request at once (503 + Retry-After). The thread round-robins one generation step per
model with active jobs, so several resident models make progress together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import mlx.core as mx

from mlx_daemon.config import MlxDaemonSettings
from mlx_daemon.errors import ApiError, model_unavailable, overloaded
from mlx_daemon.jobs import Failed, Job, Outbox
from mlx_daemon.lane import Lane, LaneHooks
from mlx_daemon.metrics import DaemonMetrics
from mlx_daemon.registry import LoadError, ModelRegistry
from mlx_daemon.sampling import SamplerCache

__all__ = ["ComputeWorker", "QueueStatus"]

log = logging.getLogger(__name__)
_IDLE_WAIT = 1.0
_RATE_WINDOW = 1.0


@dataclass(frozen=True)
class QueueStatus:
    active: int
    queued: int


class _RateMeter:
    """Tokens per second per model over roughly the last second (compute thread only)."""

    def __init__(self, metrics: DaemonMetrics, models: Iterable[str]) -> None:
        self._metrics = metrics
        self._counts = dict.fromkeys(models, 0)
        self._since = time.monotonic()

    def add(self, model: str, tokens: int) -> None:
        self._counts[model] += tokens

    def tick(self) -> None:
        now = time.monotonic()
        elapsed = now - self._since
        if elapsed < _RATE_WINDOW:
            return
        for model, count in self._counts.items():
            self._metrics.tokens_per_second.labels(model=model).set(count / elapsed)
            self._counts[model] = 0
        self._since = now


class ComputeWorker:
    def __init__(
        self,
        settings: MlxDaemonSettings,
        registry: ModelRegistry,
        metrics: DaemonMetrics,
        on_crash: Callable[[BaseException], None],
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._metrics = metrics
        self._on_crash = on_crash
        self._cond = threading.Condition()
        self._inbox: deque[Job] = deque()
        self._cancels: list[Job] = []
        self._loads: list[str] = []
        self._loads_pending = 0
        self._stopping = False
        self._inflight = dict.fromkeys(registry.model_ids(), 0)
        self._active = dict.fromkeys(registry.model_ids(), 0)
        self._limit = settings.max_batch_size + settings.queue_size
        self._outbox = Outbox()
        hooks = LaneHooks(
            emit=self._outbox.add,
            release=self._release,
            generated=self._generated,
            prompt=self._prompt,
            cache_size=self._cache_size,
            first_token=self._first_token,
        )
        samplers = SamplerCache()
        self._lanes = {m: Lane(m, settings, samplers, hooks) for m in registry.model_ids()}
        self._rates = _RateMeter(metrics, registry.model_ids())
        self._published: tuple[tuple[int, int], ...] = ()
        self._thread = threading.Thread(target=self._run, name="mlx-compute", daemon=True)

    # ------------------------------------------------------------- any thread

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Fail what is pending, stop the thread and wait for it (blocking)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, job: Job) -> None:
        """Queue a job, or raise a 503 :class:`ApiError` at once when the model is full."""
        model = job.model
        with self._cond:
            if self._stopping or not self._thread.is_alive():
                raise model_unavailable(model, "the server is shutting down", self._retry)
            if self._inflight[model] >= self._limit:
                raise overloaded(model, self._retry)
            self._inflight[model] += 1
            self._inbox.append(job)
            self._metrics.queue_depth.labels(model=model).set(
                self._inflight[model] - self._active[model]
            )
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """Stop a job whose client went away; frees its batch slot."""
        with self._cond:
            if job.cancelled:
                return
            job.cancelled = True
            self._cancels.append(job)
            self._cond.notify()

    def preload(self, models: Iterable[str]) -> None:
        wanted = list(models)
        with self._cond:
            self._loads.extend(wanted)
            self._loads_pending += len(wanted)
            self._cond.notify()

    @property
    def preloading(self) -> bool:
        """True while models asked for by :meth:`preload` are still being loaded."""
        with self._cond:
            return self._loads_pending > 0

    def queue_status(self) -> dict[str, QueueStatus]:
        with self._cond:
            return {
                m: QueueStatus(active=self._active[m], queued=self._inflight[m] - self._active[m])
                for m in self._inflight
            }

    @property
    def _retry(self) -> int:
        return self._settings.retry_after_seconds

    # ------------------------------------------------------------- lane hooks

    def _release(self, job: Job) -> None:
        with self._cond:
            self._inflight[job.model] -= 1

    def _generated(self, model: str, tokens: int) -> None:
        self._rates.add(model, tokens)
        self._metrics.generated_tokens.labels(model=model).inc(tokens)

    def _first_token(self, model: str, seconds: float) -> None:
        self._metrics.ttft.labels(model=model).observe(seconds)

    def _prompt(self, model: str, tokens: int, reused: int) -> None:
        self._metrics.prompt_tokens.labels(model=model).inc(tokens)
        if reused:
            self._metrics.cached_prompt_tokens.labels(model=model).inc(reused)

    def _cache_size(self, model: str, nbytes: int) -> None:
        self._metrics.prompt_cache_bytes.labels(model=model).set(nbytes)

    # ------------------------------------------------------------- compute thread

    def _run(self) -> None:
        try:
            self._loop(mx.default_stream(mx.default_device()))
        except BaseException as exc:
            log.critical("compute worker crashed", exc_info=exc)
            self._on_crash(exc)
        finally:
            self._shutdown()

    def _loop(self, stream: object) -> None:
        while True:
            with self._cond:
                while not self._pending() and not self._has_work():
                    self._cond.wait(_IDLE_WAIT)
                    self._rates.tick()
                if self._stopping:
                    return
                inbox, self._inbox = self._inbox, deque()
                cancels, self._cancels = self._cancels, []
                loads, self._loads = self._loads, []
            self._intake(inbox)
            for job in cancels:
                self._lanes[job.model].cancel(job)
            for model in loads:
                self._ensure_loaded(self._lanes[model], stream)
                with self._cond:
                    self._loads_pending -= 1
            self._schedule(stream)
            for lane in self._lanes.values():
                if lane.active:
                    lane.step()
            self._publish_counts()  # counts first: a client that hears "done" sees them
            self._outbox.flush()
            self._rates.tick()

    def _pending(self) -> bool:
        return bool(self._stopping or self._inbox or self._cancels or self._loads)

    def _has_work(self) -> bool:
        return any(lane.has_work for lane in self._lanes.values())

    def _intake(self, inbox: Iterable[Job]) -> None:
        for job in inbox:
            lane = self._lanes[job.model]
            if job.cancelled:
                self._release(job)
                continue
            self._registry.touch(job.model)
            lane.waiting.append(job)

    def _schedule(self, stream: object) -> None:
        """Load what waiting jobs need and fill batches.

        A model that must wait for memory makes the busy models *drain*: they admit no new
        jobs until it could load, so a stream of requests to one model cannot starve another.
        """
        draining: set[str] = set()
        for lane in self._lanes.values():
            if lane.waiting and not self._ensure_loaded(lane, stream) and lane.waiting:
                draining.update(m for m, other in self._lanes.items() if other.active)
        for lane in self._lanes.values():
            if lane.waiting and lane.loaded is not None and lane.model_id not in draining:
                lane.admit_waiting()

    def _ensure_loaded(self, lane: Lane, stream: object) -> bool:
        """Load the lane's model (evicting idle LRU models); False if it must wait."""
        if lane.loaded is not None:
            return True
        model = lane.model_id
        error = self._registry.failure(model)
        if error is not None:
            lane.fail_waiting(model_unavailable(model, error, self._retry))
            return False
        try:
            needed = self._registry.estimate(model)
            busy = [m for m, other in self._lanes.items() if other.active]
            plan = self._registry.eviction_plan(model, needed, busy)
        except LoadError as exc:
            self._registry.mark_failed(model, str(exc))
            lane.fail_waiting(model_unavailable(model, str(exc), self._retry))
            return False
        if plan is None:
            return False
        for victim in plan:
            self._lanes[victim].detach()
            self._registry.evict(victim)
        self._outbox.flush()  # a load can take seconds: deliver what is ready first
        try:
            loaded = self._registry.load(model, needed)  # records its own failure
        except LoadError as exc:
            lane.fail_waiting(model_unavailable(model, str(exc), self._retry))
            return False
        lane.attach(loaded, stream)
        return True

    def _publish_counts(self) -> None:
        """Expose active/queued counts (to health and metrics) when they changed."""
        seen = tuple((len(lane.active), self._inflight[m]) for m, lane in self._lanes.items())
        if seen == self._published:
            return
        self._published = seen
        with self._cond:
            for model, lane in self._lanes.items():
                active = len(lane.active)
                if active != self._active[model]:
                    self._active[model] = active
                    self._metrics.active.labels(model=model).set(active)
                self._metrics.queue_depth.labels(model=model).set(self._inflight[model] - active)

    def _shutdown(self) -> None:
        error = ApiError(
            503, "The server is shutting down.", type="server_error", code="shutting_down",
            headers={"Retry-After": str(self._retry)},
        )  # fmt: skip
        with self._cond:
            self._stopping = True
            inbox, self._inbox = self._inbox, deque()
        for job in inbox:
            self._outbox.add(job, Failed(error))
            self._release(job)
        for lane in self._lanes.values():
            lane.fail_all(error)
            lane.detach()
        self._outbox.flush()
        self._registry.unload_all()
        self._publish_counts()
