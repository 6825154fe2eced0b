"""The host's CPU, memory and disks (psutil)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import psutil

from watch.checks._base import grade
from watch.results import CheckResult, Status
from watch.settings import HostCheckSettings

__all__ = ["HostCheck"]


class HostCheck:
    name = "host"
    subject = "host"
    failure_status = Status.WARN
    timeout_s = 5.0

    def __init__(self, config: HostCheckSettings) -> None:
        self._config = config
        psutil.cpu_percent(interval=None)  # primes the counter: the next call measures

    async def run(self) -> Sequence[CheckResult]:
        return await asyncio.to_thread(self._measure)

    def _measure(self) -> list[CheckResult]:
        config = self._config
        cpu = psutil.cpu_percent(interval=None)
        memory = psutil.virtual_memory().percent
        results = [
            self._graded("cpu", cpu, (config.cpu_warn_percent, None), f"CPU {cpu:.0f}%"),
            self._graded("memory", memory,
                         (config.memory_warn_percent, config.memory_critical_percent),
                         f"memory {memory:.0f}% used"),
        ]
        for path in config.disk_paths:
            try:
                used = psutil.disk_usage(path).percent
            except OSError as exc:
                results.append(CheckResult(self.name, f"host/disk:{path}", Status.WARN,
                                           f"disk {path}: {exc.strerror or exc}",
                                           f"host:disk:{path}"))
                continue
            results.append(self._graded(
                f"disk:{path}", used, (config.disk_warn_percent, config.disk_critical_percent),
                f"disk {path} {used:.0f}% full"))
        return results

    def _graded(self, what: str, value: float, limits: tuple[float | None, float | None],
                message: str) -> CheckResult:
        """``what`` is ``cpu``, ``memory`` or ``disk:/path``; ``limits`` is (warn, critical)."""
        warn, critical = limits
        g = grade(f"{what} percent", value, warn=warn, critical=critical, where="host")
        if g.breach is not None:
            message += f" (threshold {g.breach.threshold:g}%)"
        return CheckResult(self.name, f"host/{what}", g.status, message, f"host:{what}", None,
                           {"percent": value}, (g.breach,) if g.breach else ())
