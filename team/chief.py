"""Chief's check: the data behind the deployment gate and the 80% rule's "health checks pass".

The monitoring issue fills :class:`ChiefCheck` with real data (Prometheus alerts, resource
thresholds, service checks). Until then :class:`RouteHealthCheck` reports the inference
chain's own health, and :class:`ManualChiefCheck` is a check whose answers the caller sets
(tests, or a bot command).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from inference.config import InferenceSettings
from inference.health import HealthBoard
from inference.node_http import NodeHttp
from inference.probes import Prober

__all__ = [
    "Alert",
    "Breach",
    "ChiefCheck",
    "ChiefReport",
    "HealthCheck",
    "ManualChiefCheck",
    "RouteHealthCheck",
    "chief_report",
    "probed_route_check",
]


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


@runtime_checkable
class ChiefCheck(Protocol):
    """What Chief looks at before a deploy and before anything ships."""

    async def open_alerts(self) -> Sequence[Alert]: ...

    async def threshold_breaches(self) -> Sequence[Breach]: ...

    async def health_checks(self) -> Sequence[HealthCheck]: ...


@dataclass(frozen=True, slots=True)
class ChiefReport:
    alerts: tuple[Alert, ...]
    breaches: tuple[Breach, ...]
    checks: tuple[HealthCheck, ...]

    @property
    def stable(self) -> bool:
        """No open alert and no breached threshold: a deploy may go ahead."""
        return not self.alerts and not self.breaches

    @property
    def healthy(self) -> bool:
        """Every health check passes (and there is at least one)."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def instability(self) -> list[str]:
        return [f"alert open: {a.name}" + (f" ({a.summary})" if a.summary else "")
                for a in self.alerts] + [f"threshold exceeded: {b.describe()}"
                                         for b in self.breaches]

    def failing_checks(self) -> list[str]:
        if not self.checks:
            return ["no health checks reported"]
        return [c.name + (f" ({c.detail})" if c.detail else "") for c in self.checks if not c.ok]


async def chief_report(check: ChiefCheck) -> ChiefReport:
    return ChiefReport(
        tuple(await check.open_alerts()),
        tuple(await check.threshold_breaches()),
        tuple(await check.health_checks()),
    )


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


class RouteHealthCheck:
    """Health = every route has a step that would answer now; no alerts or thresholds yet.

    ``serving`` maps a route name to whether it is served (e.g. from
    ``InferenceStack.route_status``); it is called on every check, after ``refresh`` (e.g.
    a probe of every node) when one is given.
    """

    def __init__(
        self,
        serving: Callable[[], Mapping[str, bool]],
        refresh: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._serving = serving
        self._refresh = refresh

    async def open_alerts(self) -> Sequence[Alert]:
        return ()

    async def threshold_breaches(self) -> Sequence[Breach]:
        return ()

    async def health_checks(self) -> Sequence[HealthCheck]:
        if self._refresh is not None:
            await self._refresh()
        return tuple(
            HealthCheck(f"route {route}", ok, "" if ok else "no node answers")
            for route, ok in self._serving().items()
        )


def probed_route_check(settings: InferenceSettings, http: NodeHttp) -> RouteHealthCheck:
    """A :class:`RouteHealthCheck` that probes every node first (for one-shot processes)."""
    board = HealthBoard(settings.health, settings.nodes)
    prober = Prober(settings.nodes, board, settings.health, http)

    def serving() -> dict[str, bool]:
        return {route: any(board.would_allow(settings.models[alias].node) for alias in steps)
                for route, steps in settings.routes.items()}

    return RouteHealthCheck(serving, prober.probe_all)
