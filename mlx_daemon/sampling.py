"""Per-request sampling (temperature, top_p, seed, penalties) and stop-string handling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlx.core as mx
from mlx_lm.sample_utils import (
    apply_top_p,
    greedy_sampler,
    make_logits_processors,
    make_sampler,
)

from mlx_daemon.protocol import GenerationRequest

__all__ = [
    "LogitsProcessor",
    "Sampler",
    "SamplerCache",
    "SeededSampler",
    "StopFilter",
    "logits_processors_for",
]

Sampler = Callable[[Any], Any]
LogitsProcessor = Callable[[Any, Any], Any]


class SeededSampler:
    """Samples with its own PRNG key, so a seeded request is reproducible inside a batch."""

    def __init__(self, temperature: float, top_p: float, seed: int) -> None:
        self._inverse_temperature = 1.0 / temperature
        self._top_p = top_p
        self._key = mx.random.key(seed)

    def __call__(self, logprobs: Any) -> Any:
        if 0.0 < self._top_p < 1.0:
            logprobs = apply_top_p(logprobs, self._top_p)
        keys = mx.random.split(self._key)
        self._key = keys[0]
        return mx.random.categorical(logprobs * self._inverse_temperature, key=keys[1])


class SamplerCache:
    """Hands out one shared sampler per (temperature, top_p).

    ``mlx_lm``'s generation batch samples every row in one call when all rows share the
    same sampler object, and row by row otherwise; sharing keeps like requests batched.
    """

    def __init__(self, limit: int = 64) -> None:
        self._limit = limit
        self._shared: dict[tuple[float, float], Sampler] = {}

    def sampler_for(self, request: GenerationRequest) -> Sampler:
        if request.temperature <= 0.0:
            sampler: Sampler = greedy_sampler
            return sampler
        if request.seed is not None:
            return SeededSampler(request.temperature, request.top_p, request.seed)
        key = (request.temperature, request.top_p)
        found = self._shared.get(key)
        if found is None:
            if len(self._shared) >= self._limit:
                self._shared.clear()
            found = make_sampler(request.temperature, top_p=request.top_p)
            self._shared[key] = found
        return found


def logits_processors_for(request: GenerationRequest) -> list[LogitsProcessor]:
    if not (request.logit_bias or request.presence_penalty or request.frequency_penalty):
        return []
    processors: list[LogitsProcessor] = make_logits_processors(
        logit_bias=request.logit_bias or None,
        presence_penalty=request.presence_penalty or None,
        frequency_penalty=request.frequency_penalty or None,
    )
    return processors


class StopFilter:
    """Cuts streamed text at the first stop string, holding back possible partial matches.

    "First" is the stop string that completes first as the text streams (as a server that
    stops generating at that moment would), the earliest-starting one on a tie; so the cut
    does not depend on how the text was split into chunks. ``feed`` returns the text that
    is safe to emit and whether a stop string completed; the stop string itself is never
    emitted. ``flush`` releases held-back text when the generation ends for another reason.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        if not self._stops:
            return text, False
        buffer = self._held + text
        hits = [(i + len(s), i) for s in self._stops if (i := buffer.find(s)) >= 0]
        if hits:
            self._held = ""
            return buffer[: min(hits)[1]], True
        keep = self._partial_suffix(buffer)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _partial_suffix(self, buffer: str) -> int:
        """Length of the longest suffix of ``buffer`` that starts some stop string."""
        for size in range(min(len(buffer), max(map(len, self._stops)) - 1), 0, -1):
            tail = buffer[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0
