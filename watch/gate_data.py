"""Chief's gate data: alerts, breached thresholds and health checks, and a hand-set check.

These are what :class:`watch.gate.ChiefClearance` reports to the team engine through its
:class:`team.chief.ChiefCheck` protocol (matched structurally: the watch imports nothing of
the team). :class:`ManualChiefCheck` is a check whose answers the caller sets (tests, or a
bot command).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Alert", "Breach", "HealthCheck", "ManualChiefCheck"]


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    summary: str = ""
    severity: str = "critical"


@dataclass(frozen=True, slots=True)
class Breach:
    metric: str
    value: float
    threshold: float
    where: str = ""

    def describe(self) -> str:
        at = f" on {self.where}" if self.where else ""
        return f"{self.metric}{at} at {self.value:g} (threshold {self.threshold:g})"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ManualChiefCheck:
    """A check whose alerts, breaches and health the owner sets (all clear by default)."""

    alerts: list[Alert] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    checks: list[HealthCheck] = field(
        default_factory=lambda: [HealthCheck("services", True, "set by hand")]
    )

    async def open_alerts(self) -> Sequence[Alert]:
        return tuple(self.alerts)

    async def threshold_breaches(self) -> Sequence[Breach]:
        return tuple(self.breaches)

    async def health_checks(self) -> Sequence[HealthCheck]:
        return tuple(self.checks)
