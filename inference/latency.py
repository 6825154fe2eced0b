"""Learned time to first token: a bounded window of recent samples per model, per process.

The chain feeds it every step's first event (seconds from the step's start to its first
token); hedging asks for a model's p95. A model with fewer than ``min_samples`` samples has
no p95 yet. Nothing is persisted: a fresh process starts with no opinion.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["TtftWindow"]


class _Samples:
    __slots__ = ("_p95", "_values")

    def __init__(self, size: int) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._p95: float | None = None

    def add(self, seconds: float) -> None:
        self._values.append(seconds)
        self._p95 = None

    def __len__(self) -> int:
        return len(self._values)

    def p95(self) -> float:
        if self._p95 is None:
            ordered = sorted(self._values)
            self._p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]  # nearest rank
        return self._p95


class TtftWindow:
    """The last ``size`` first-token times of each model (by alias)."""

    def __init__(self, size: int = 200, min_samples: int = 5) -> None:
        if size < 1 or not 1 <= min_samples <= size:
            raise ValueError("need size >= 1 and 1 <= min_samples <= size")
        self._size = size
        self._min_samples = min_samples
        self._models: dict[str, _Samples] = {}

    def observe(self, model: str, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            return
        samples = self._models.get(model)
        if samples is None:
            samples = self._models[model] = _Samples(self._size)
        samples.add(seconds)

    def samples(self, model: str) -> int:
        samples = self._models.get(model)
        return 0 if samples is None else len(samples)

    def p95(self, model: str) -> float | None:
        """The model's p95 time to first token, or ``None`` before ``min_samples``."""
        samples = self._models.get(model)
        if samples is None or len(samples) < self._min_samples:
            return None
        return samples.p95()
