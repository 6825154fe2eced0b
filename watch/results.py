"""What a check returns, and running a set of checks concurrently, each under its timeout.

A check reports one or more :class:`CheckResult` values. Results share a *subject* when they
describe the same thing (``node:mlx`` from the circuit breaker, the mlx_daemon's ``/health``
and the Ollama API alike); incidents are opened per subject, so one outage is one alert.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from watch.gate_data import Breach

__all__ = [
    "Breach",
    "Check",
    "CheckResult",
    "Status",
    "run_check",
    "run_checks",
    "worst",
]

log = logging.getLogger(__name__)


class Status(enum.IntEnum):
    OK = 0
    WARN = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Status:
        return cls[text.upper()]


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str  # the check that produced it, e.g. "docker"
    key: str  # unique per sweep, e.g. "docker/redis"
    status: Status
    message: str
    subject: str = ""  # incident grouping; defaults to ``key``
    latency_s: float | None = None
    numbers: Mapping[str, float] = field(default_factory=dict)
    breaches: tuple[Breach, ...] = ()

    @property
    def incident_subject(self) -> str:
        return self.subject or self.key

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "key": self.key,
            "subject": self.incident_subject,
            "status": self.status.label,
            "message": self.message,
            "latency_s": self.latency_s,
            "numbers": dict(self.numbers),
            "breaches": [b.describe() for b in self.breaches],
        }


class Check(Protocol):
    """A small typed check. ``run`` may raise; :func:`run_check` turns that into a result."""

    @property
    def name(self) -> str: ...

    @property
    def timeout_s(self) -> float: ...

    @property
    def subject(self) -> str: ...

    @property
    def failure_status(self) -> Status:
        """The status reported when the check cannot run (timeout, error)."""
        ...

    async def run(self) -> Sequence[CheckResult]: ...


def worst(results: Sequence[CheckResult]) -> Status:
    return max((r.status for r in results), default=Status.OK)


async def run_check(check: Check, cap_s: float | None = None) -> list[CheckResult]:
    """Run one check under its timeout; failures become a critical result for the check."""
    limit = min(check.timeout_s, cap_s) if cap_s is not None else check.timeout_s
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            results = list(await check.run())
    except TimeoutError:
        return [_failed(check, f"no answer within {limit:g}s", None)]
    except Exception as exc:  # a broken check must not stop the sweep
        log.debug("check %s failed", check.name, exc_info=True)
        detail = str(exc) or type(exc).__name__
        return [_failed(check, f"check failed: {detail}", time.perf_counter() - started)]
    if not any(r.key == check.name for r in results):
        elapsed = time.perf_counter() - started
        results.insert(0, CheckResult(check.name, check.name, Status.OK,
                                      f"ran ({len(results)} result(s))", check.subject, elapsed))
    return results


async def run_checks(checks: Sequence[Check], cap_s: float | None = None) -> list[CheckResult]:
    """Every check concurrently; results in the order of ``checks``."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(run_check(c, cap_s), name=f"check-{c.name}") for c in checks]
    return [result for task in tasks for result in task.result()]


def _failed(check: Check, message: str, latency: float | None) -> CheckResult:
    return CheckResult(check.name, check.name, check.failure_status, message, check.subject,
                       latency)
