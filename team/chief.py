"""The deployment gate as the team engine sees it: a small protocol, implemented elsewhere.

Chief (checks, incidents, breached thresholds, reports) lives in :mod:`watch`;
:class:`watch.gate.ChiefClearance` implements :class:`ChiefCheck` structurally, and the
composition root (:mod:`homecrew.compose`) hands it to the engine. The engine only reads
what the protocol says, so nothing here imports the watch.

Without a Chief (no watch wired), the engine falls back to :class:`RouteHealthCheck`: no
alerts, no thresholds, and one health check per route (served or not).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "ChiefCheck",
    "ChiefReport",
    "GateAlert",
    "GateBreach",
    "GateCheck",
    "RouteCheck",
    "RouteHealthCheck",
    "chief_report",
]


class GateAlert(Protocol):
    """An open alert: a deploy waits until it is resolved."""

    @property
    def name(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def severity(self) -> str: ...


class GateBreach(Protocol):
    """A threshold exceeded right now."""

    def describe(self) -> str: ...


class GateCheck(Protocol):
    """One health check's verdict."""

    @property
    def name(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def detail(self) -> str: ...


@runtime_checkable
class ChiefCheck(Protocol):
    """What Chief looks at before a deploy and before anything ships."""

    async def open_alerts(self) -> Sequence[GateAlert]: ...

    async def threshold_breaches(self) -> Sequence[GateBreach]: ...

    async def health_checks(self) -> Sequence[GateCheck]: ...


@dataclass(frozen=True, slots=True)
class ChiefReport:
    alerts: tuple[GateAlert, ...]
    breaches: tuple[GateBreach, ...]
    checks: tuple[GateCheck, ...]

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


@dataclass(frozen=True, slots=True)
class RouteCheck:
    """A route's verdict in :class:`RouteHealthCheck` (a :class:`GateCheck`)."""

    name: str
    ok: bool
    detail: str = ""


class RouteHealthCheck:
    """Health = every route has a step that would answer now; no alerts or thresholds.

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

    async def open_alerts(self) -> Sequence[GateAlert]:
        return ()

    async def threshold_breaches(self) -> Sequence[GateBreach]:
        return ()

    async def health_checks(self) -> Sequence[GateCheck]:
        if self._refresh is not None:
            await self._refresh()
        return tuple(
            RouteCheck(f"route {route}", ok, "" if ok else "no node answers")
            for route, ok in self._serving().items()
        )
