"""Chief's data for the team engine: the deployment gate's check and the auto-halt hook.

:class:`ChiefClearance` implements :class:`team.chief.ChiefCheck`: open incidents are the
open alerts, the latest results' breached thresholds are the breaches, and every result
that is not critical is a passing health check. :func:`halt_production` turns the team
board's halt into the watch's ``on_critical`` hook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from team.actors import Actor
from team.chief import Alert, Breach, ChiefCheck, HealthCheck
from watch.engine import HaltHook, Watch
from watch.incidents import Incident
from watch.results import Status

__all__ = ["ChiefClearance", "Halter", "halt_production"]


class ChiefClearance(ChiefCheck):
    """The watch seen through the team engine's :class:`~team.chief.ChiefCheck`."""

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


class Halter(Protocol):
    """What :func:`halt_production` needs: the team board's ``halt``."""

    async def halt(self, actor: Actor, reason: str) -> object: ...


def halt_production(board: Halter, *, actor: str = "chief") -> HaltHook:
    """An ``on_critical`` hook halting the Production Division in Chief's name."""

    async def hook(incident: Incident) -> object:
        return await board.halt(Actor.agent(actor), f"RED ALERT: {incident.title}")

    return hook
