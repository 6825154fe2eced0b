"""Shared pieces of the checks: identity fields and threshold grading."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from inference.probes import describe_http_error
from watch.results import Breach, Status

__all__ = ["Grade", "describe_http_error", "grade", "ms", "timed"]


@dataclass(frozen=True, slots=True)
class Grade:
    status: Status
    breach: Breach | None = None


def grade(
    metric: str,
    value: float,
    *,
    warn: float | None = None,
    critical: float | None = None,
    below: bool = False,
    where: str = "",
) -> Grade:
    """Compare ``value`` with its thresholds (``below``: lower is worse)."""

    def past(limit: float | None) -> bool:
        return limit is not None and (value < limit if below else value > limit)

    for limit, status in ((critical, Status.CRITICAL), (warn, Status.WARN)):
        if past(limit):
            assert limit is not None
            return Grade(status, Breach(metric, value, limit, where))
    return Grade(Status.OK)


def ms(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds * 1000:.0f} ms"


def timed() -> Callable[[], float]:
    """A stopwatch: call the returned function for the seconds elapsed."""
    started = time.perf_counter()
    return lambda: time.perf_counter() - started


