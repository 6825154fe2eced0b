"""Anomaly detection: a rolling per-node baseline of latency and error rate.

Samples go into fixed time buckets (``bucket_seconds``). A deviation is *sustained* when
every complete bucket of the last ``sustain_minutes`` lies more than ``z_threshold``
standard deviations above the baseline — the buckets of the ``baseline_minutes`` before that
window. The z-score is the robust kind (median, and the median absolute deviation × 1.4826
as the standard deviation, never below a floor), so a deviation under way barely moves its
own baseline. Stateless per evaluation, so the sweep cadence does not matter; a level that
lasts for more than half the baseline window becomes the new normal. Only rises are
reported (as a warning result ``anomaly/<node>/<metric>``); a single slow minute is not.

Series: ``latency`` (time to first token of answered requests, from ledger records),
``errors`` (share of node failures among attempts) and ``probe`` (health probe latency,
fed once per sweep from the health board).
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from inference.health import NodeHealth
from inference.records import LedgerRecord
from watch.results import CheckResult, Status
from watch.settings import AnomalySettings

__all__ = ["AnomalyDetector", "Metric"]

Metric = Literal["latency", "errors", "probe"]
_FAILED = {"unavailable", "timeout", "error"}
_MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its std
_DESCRIBE: Mapping[Metric, str] = {
    "latency": "time to first token", "errors": "error rate", "probe": "probe latency"}


@dataclass
class _Bucket:
    start: float
    total: float = 0.0
    count: int = 0

    @property
    def mean(self) -> float:
        return self.total / self.count


@dataclass
class _Series:
    buckets: deque[_Bucket] = field(default_factory=deque)

    def add(self, start: float, value: float) -> None:
        if not self.buckets or self.buckets[-1].start < start:
            self.buckets.append(_Bucket(start))
        bucket = next((b for b in reversed(self.buckets) if b.start == start), None)
        if bucket is None:  # an old sample for a bucket already dropped or not kept
            return
        bucket.total += value
        bucket.count += 1

    def prune(self, before: float) -> None:
        while self.buckets and self.buckets[0].start < before:
            self.buckets.popleft()


@dataclass(frozen=True, slots=True)
class _Judgement:
    current: float  # the last bucket's mean
    lowest: float  # the lowest bucket mean of the sustain window
    center: float  # the baseline's median
    std: float

    @property
    def z(self) -> float:
        return (self.current - self.center) / self.std

    @property
    def sustained_z(self) -> float:
        """The z-score every bucket of the window reaches."""
        return (self.lowest - self.center) / self.std


class AnomalyDetector:
    """A record sink (add it to the stack's ``FanOut``) that also takes probe results."""

    def __init__(self, config: AnomalySettings, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock
        self._series: dict[tuple[str, Metric], _Series] = {}

    # -- feeding ---------------------------------------------------------------------------
    def record(self, record: LedgerRecord) -> None:
        if record.cache_hit or record.outcome == "cache_hit":
            return
        if record.outcome == "ok":
            latency = record.ttft_s if record.ttft_s is not None else record.latency_s
            self.observe(record.node, "latency", latency, record.ts)
            self.observe(record.node, "errors", 0.0, record.ts)
        elif record.outcome in _FAILED:
            self.observe(record.node, "errors", 1.0, record.ts)

    def observe_probes(self, nodes: Iterable[NodeHealth], now: float | None = None) -> None:
        ts = self._clock() if now is None else now
        for health in nodes:
            if health.probe_ok and health.probe_latency_s is not None:
                self.observe(health.name, "probe", health.probe_latency_s, ts)

    def observe(self, node: str, metric: Metric, value: float, ts: float | None = None) -> None:
        when = self._clock() if ts is None else ts
        size = self._config.bucket_seconds
        series = self._series.setdefault((node, metric), _Series())
        series.add(math.floor(when / size) * size, value)

    # -- judging ---------------------------------------------------------------------------
    def evaluate(self, now: float | None = None) -> list[CheckResult]:
        """One result per series with data: warn while a rise is sustained."""
        moment = self._clock() if now is None else now
        size = self._config.bucket_seconds
        current = math.floor(moment / size) * size - size  # the last complete bucket
        window = max(1, math.ceil(self._config.sustain_minutes * 60 / size))
        window_start = current - (window - 1) * size
        baseline_start = window_start - self._config.baseline_minutes * 60
        results = []
        for (node, metric), series in sorted(self._series.items()):
            series.prune(baseline_start)
            judgement = self._judge(series, metric, window_start, current)
            results.append(self._result(node, metric, judgement, window * size))
        return results

    def _judge(self, series: _Series, metric: Metric, window_start: float,
               current: float) -> _Judgement | None:
        needed = 1 if metric == "probe" else self._config.min_samples
        usable = [b for b in series.buckets if b.count >= needed and b.start <= current]
        baseline = [b.mean for b in usable if b.start < window_start]
        recent = [b.mean for b in usable if b.start >= window_start]
        expected = round((current - window_start) / self._config.bucket_seconds) + 1
        if len(baseline) < self._config.min_baseline_buckets or len(recent) < expected:
            return None
        floor = (self._config.error_rate_floor if metric == "errors"
                 else self._config.latency_floor_s)
        center = statistics.median(baseline)
        spread = statistics.median(abs(x - center) for x in baseline) * _MAD_TO_STD
        return _Judgement(recent[-1], min(recent), center, max(spread, floor))

    def _result(self, node: str, metric: Metric, judgement: _Judgement | None,
                window_s: float) -> CheckResult:
        key, subject = f"anomaly/{node}/{metric}", f"anomaly:{node}:{metric}"
        what = f"{node} {_DESCRIBE[metric]}"
        if judgement is None:
            return CheckResult("anomaly", key, Status.OK, f"{what} normal (no judgement yet)",
                               subject)
        numbers = {"current": judgement.current, "baseline_median": judgement.center,
                   "baseline_std": judgement.std, "z": judgement.z}
        if judgement.sustained_z <= self._config.z_threshold:
            return CheckResult("anomaly", key, Status.OK,
                               f"{what} normal (z {judgement.z:.1f})", subject, None, numbers)
        message = (f"{what} anomaly: {_fmt(metric, judgement.current)} against a baseline of "
                   f"{_fmt(metric, judgement.center)} ± {_fmt(metric, judgement.std)} "
                   f"(z {judgement.z:.1f}) for {window_s / 60:.0f} min")
        return CheckResult("anomaly", key, Status.WARN, message, subject, None, numbers)


def _fmt(metric: Metric, value: float) -> str:
    return f"{value:.0%}" if metric == "errors" else f"{value:.2f} s"
