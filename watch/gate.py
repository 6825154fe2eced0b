"""Chief's data for the team engine: the deployment gate's check.

:class:`ChiefClearance` implements :class:`team.chief.ChiefCheck` (structurally: the watch
imports nothing of the team): open incidents are the open alerts, the latest results'
breached thresholds are the breaches, and every result that is not critical is a passing
health check. The composition root (:mod:`homecrew.compose`) hands it to the team engine
and turns the team board's halt into the watch's ``on_critical`` hook.
"""

from __future__ import annotations

from collections.abc import Sequence

from watch.engine import Watch
from watch.gate_data import Alert, Breach, HealthCheck
from watch.results import Status

__all__ = ["ChiefClearance"]


class ChiefClearance:
    """The watch seen through the team engine's ``ChiefCheck`` protocol."""

    def __init__(self, watch: Watch, *, max_age_s: float | None = None) -> None:
        self._watch = watch
        self._max_age = max_age_s

    async def open_alerts(self) -> Sequence[Alert]:
        return tuple(
            Alert(i.subject, i.title, "critical" if i.severity is Status.CRITICAL else "warning")
            for i in self._watch.open_incidents
        )

    async def threshold_breaches(self) -> Sequence[Breach]:
        results = await self._watch.current_results(self._max_age)
        return tuple(b for r in results for b in r.breaches)

    async def health_checks(self) -> Sequence[HealthCheck]:
        results = await self._watch.current_results(self._max_age)
        return tuple(HealthCheck(r.key, r.status is not Status.CRITICAL,
                                 "" if r.ok else r.message) for r in results)

    async def health_checks_pass(self) -> bool:
        checks = await self.health_checks()
        return bool(checks) and all(c.ok for c in checks)
