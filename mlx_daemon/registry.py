"""The configured models: where they live, what they cost in memory, which are resident.

Only the compute worker thread loads and evicts (MLX work stays on one thread); other
threads read :meth:`ModelRegistry.snapshot`. The size of a model is estimated before
loading from its ``*.safetensors`` files (or the configured ``memory_gb``) so the budget
can be enforced by evicting least-recently-used idle models first.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import mlx.core as mx

from mlx_daemon.config import GIB, MlxDaemonSettings, ModelSpec
from mlx_daemon.metrics import DaemonMetrics

__all__ = [
    "LoadError",
    "LoadedModel",
    "ModelRegistry",
    "ModelState",
    "ModelStatus",
    "resolve_model_dir",
]

log = logging.getLogger(__name__)
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_MAX_SANE_CONTEXT = 10_000_000


class ModelState(StrEnum):
    UNLOADED = "unloaded"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


class LoadError(Exception):
    """A model cannot be loaded (bad files, not cached, bigger than the budget)."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    model: Any
    tokenizer: Any
    context_length: int | None
    path: Path


@dataclass(frozen=True)
class ModelStatus:
    """A point-in-time view of one configured model."""

    model_id: str
    state: ModelState
    memory_bytes: int
    context_length: int | None
    loads: int
    evictions: int
    last_error: str | None
    last_used: float | None

    @property
    def loaded(self) -> bool:
        return self.state is ModelState.LOADED


@dataclass(eq=False)
class _Slot:
    model_id: str
    spec: ModelSpec
    state: ModelState = ModelState.UNLOADED
    loaded: LoadedModel | None = None
    memory_bytes: int = 0
    context_length: int | None = None
    last_used: float | None = None
    loads: int = 0
    evictions: int = 0
    error: str | None = None
    failed_at: float | None = None


def resolve_model_dir(model_id: str, spec: ModelSpec) -> Path:
    """A local directory, or a repo id found in the local HF cache (never downloads)."""
    raw = spec.path or model_id
    candidate = Path(raw).expanduser()
    if candidate.is_dir():
        return candidate.resolve()
    if not _REPO_ID.match(raw):
        raise LoadError(f"model directory {str(candidate)!r} does not exist")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(raw, local_files_only=True))
    except Exception as exc:
        raise LoadError(
            f"{raw!r} is neither a directory nor in the local Hugging Face cache "
            f"(this server never downloads): {type(exc).__name__}"
        ) from None


def _context_length(spec: ModelSpec, config: dict[str, Any], tokenizer: Any) -> int | None:
    if spec.context_length is not None:
        return spec.context_length
    for source in (config, config.get("text_config") or {}):
        value = source.get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < _MAX_SANE_CONTEXT else None


class ModelRegistry:
    def __init__(self, settings: MlxDaemonSettings, metrics: DaemonMetrics) -> None:
        self._budget = settings.memory_budget_bytes
        self._metrics = metrics
        self._retry_after = settings.load_retry_seconds
        self._lock = threading.Lock()
        self._slots = {mid: _Slot(mid, spec) for mid, spec in settings.models.items()}
        self._estimates: dict[str, int] = {}
        metrics.memory_budget.set(self._budget or 0)

    @property
    def budget_bytes(self) -> int | None:
        return self._budget

    def model_ids(self) -> list[str]:
        return list(self._slots)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._slots

    def get(self, model_id: str) -> LoadedModel | None:
        return self._slots[model_id].loaded

    def touch(self, model_id: str) -> None:
        self._slots[model_id].last_used = time.monotonic()

    def failure(self, model_id: str) -> str | None:
        """The last load error while it is still fresh (before a retry is due), else None."""
        slot = self._slots[model_id]
        if slot.state is not ModelState.FAILED or slot.failed_at is None:
            return None
        if time.monotonic() - slot.failed_at >= self._retry_after:
            return None
        return slot.error

    def used_bytes(self) -> int:
        return sum(s.memory_bytes for s in self._slots.values() if s.loaded is not None)

    def estimate(self, model_id: str) -> int:
        """Bytes the model will occupy; raises :class:`LoadError` if it cannot be found."""
        known = self._estimates.get(model_id)
        if known is not None:
            return known
        slot = self._slots[model_id]
        if slot.spec.memory_gb is not None:
            size = int(slot.spec.memory_gb * GIB)
        else:
            directory = resolve_model_dir(model_id, slot.spec)
            size = sum(f.stat().st_size for f in directory.glob("*.safetensors"))
        self._estimates[model_id] = size
        return size

    def eviction_plan(self, model_id: str, needed: int, busy: Collection[str]) -> list[str] | None:
        """Resident models to evict (LRU first) so ``needed`` bytes fit; None: not now."""
        if self._budget is None:
            return []
        if needed > self._budget:
            raise LoadError(
                f"it needs {needed / GIB:.2f} GiB but memory_budget_gb is {self._budget / GIB:.2f}"
            )
        free = self._budget - self.used_bytes()
        plan: list[str] = []
        candidates = sorted(
            (s for s in self._slots.values() if s.loaded is not None),
            key=lambda s: s.last_used or 0.0,
        )
        for slot in candidates:
            if free >= needed:
                break
            if slot.model_id in busy or slot.model_id == model_id:
                continue
            plan.append(slot.model_id)
            free += slot.memory_bytes
        return plan if free >= needed else None

    def evict(self, model_id: str) -> None:
        slot = self._slots[model_id]
        if slot.loaded is None:
            return
        with self._lock:
            slot.loaded = None
            slot.state = ModelState.UNLOADED
            slot.evictions += 1
            freed, slot.memory_bytes = slot.memory_bytes, 0
        gc.collect()
        mx.clear_cache()
        self._metrics.evictions.labels(model=model_id).inc()
        self._metrics.loaded.labels(model=model_id).set(0)
        self._metrics.memory_used.set(self.used_bytes())
        log.info("evicted %s (freed ~%.1f MiB)", model_id, freed / 2**20)

    def load(self, model_id: str, estimate: int) -> LoadedModel:
        """Load into memory (worker thread only); a failure marks the model failed."""
        slot = self._slots[model_id]
        if slot.loaded is not None:
            return slot.loaded
        with self._lock:
            slot.state = ModelState.LOADING
        began, before = time.monotonic(), mx.get_active_memory()
        try:
            loaded = self._read(slot)
        except Exception as exc:
            self._mark_failed(slot, f"{type(exc).__name__}: {exc}")
            raise LoadError(slot.error) from exc
        seconds = time.monotonic() - began
        measured = max(0, mx.get_active_memory() - before)
        with self._lock:
            slot.loaded = loaded
            slot.context_length = loaded.context_length
            slot.state = ModelState.LOADED
            slot.memory_bytes = estimate if slot.spec.memory_gb else max(estimate, measured)
            slot.loads += 1
            slot.error = slot.failed_at = None
            slot.last_used = time.monotonic()
        self._metrics.loads.labels(model=model_id, outcome="success").inc()
        self._metrics.load_seconds.labels(model=model_id).observe(seconds)
        self._metrics.loaded.labels(model=model_id).set(1)
        self._metrics.memory_used.set(self.used_bytes())
        log.info(
            "loaded %s from %s in %.2fs (~%.1f MiB, context %s)",
            model_id, loaded.path, seconds, slot.memory_bytes / 2**20, loaded.context_length,
        )  # fmt: skip
        return loaded

    def mark_failed(self, model_id: str, reason: str) -> None:
        self._mark_failed(self._slots[model_id], reason)

    def _mark_failed(self, slot: _Slot, reason: str) -> None:
        self._estimates.pop(slot.model_id, None)  # the files may be fixed before a retry
        with self._lock:
            slot.state = ModelState.FAILED
            slot.error = reason[:500]
            slot.failed_at = time.monotonic()
        self._metrics.loads.labels(model=slot.model_id, outcome="failure").inc()
        log.error("cannot load %s: %s", slot.model_id, slot.error)

    def _read(self, slot: _Slot) -> LoadedModel:
        from mlx_lm import load

        directory = resolve_model_dir(slot.model_id, slot.spec)
        loaded: Any = load(str(directory), return_config=True)
        model, tokenizer, config = loaded
        if not tokenizer.has_chat_template:
            log.warning("%s has no chat template; using a plain role: text format", slot.model_id)
        context = _context_length(slot.spec, config, tokenizer)
        return LoadedModel(model, tokenizer, context, directory)

    def unload_all(self) -> None:
        with self._lock:
            for slot in self._slots.values():
                slot.loaded = None
                if slot.state is ModelState.LOADED:
                    slot.state = ModelState.UNLOADED
                slot.memory_bytes = 0
        gc.collect()

    def snapshot(self) -> list[ModelStatus]:
        with self._lock:
            return [
                ModelStatus(
                    model_id=s.model_id,
                    state=s.state,
                    memory_bytes=s.memory_bytes,
                    context_length=s.context_length,
                    loads=s.loads,
                    evictions=s.evictions,
                    last_error=s.error,
                    last_used=s.last_used,
                )
                for s in self._slots.values()
            ]
