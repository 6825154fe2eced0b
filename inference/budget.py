"""Cloud budgets: per-agent and whole-team limits, daily and monthly, in USD.

``BudgetKeeper`` is a record sink: it adds up the cost of every cloud attempt (seeded from
the ledger at start-up) and announces each threshold crossing (``warn_at`` and 100 %) once
per scope and period to its subscribers. ``BudgetGate`` is the step layer that skips cloud
steps while a limit is reached; local steps are never blocked.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from inference.config import BudgetConfig, BudgetLimits
from inference.errors import BudgetExceeded
from inference.records import LedgerRecord
from inference.step import Step, StepCaller, StepEvent
from inference.types import ChatRequest
from store import Database

__all__ = ["BudgetEvent", "BudgetGate", "BudgetKeeper", "BudgetStatus", "Period"]

Period = Literal["daily", "monthly"]
TEAM = "team"


@dataclass(frozen=True, slots=True)
class BudgetEvent:
    scope: str  # "team" or an agent name
    period: Period
    period_key: str  # 2026-11-25 or 2026-11
    threshold: float  # e.g. 0.8 or 1.0
    spent_usd: float
    limit_usd: float


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    scope: str
    period: Period
    spent_usd: float
    limit_usd: float

    @property
    def fraction(self) -> float:
        return self.spent_usd / self.limit_usd if self.limit_usd else 1.0


class BudgetKeeper:
    def __init__(self, config: BudgetConfig, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._zone = ZoneInfo(config.timezone)
        self._clock = clock
        self._spent: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._announced: set[tuple[str, str, float]] = set()
        self._listeners: list[Callable[[BudgetEvent], None]] = []

    @property
    def active(self) -> bool:
        limits = [self._config.team, *self._config.agents.values()]
        return any(x.daily_usd is not None or x.monthly_usd is not None for x in limits)

    def subscribe(self, listener: Callable[[BudgetEvent], None]) -> None:
        self._listeners.append(listener)

    def period_keys(self, ts: float | None = None) -> dict[Period, str]:
        moment = datetime.fromtimestamp(self._clock() if ts is None else ts, self._zone)
        return {"daily": moment.strftime("%Y-%m-%d"), "monthly": moment.strftime("%Y-%m")}

    async def seed(self, db: Database) -> None:
        """Start from what the ledger already holds for this month."""
        month_start = datetime.fromtimestamp(self._clock(), self._zone).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
        rows = await db.fetch(
            "SELECT ts, agent, cost_usd FROM ledger WHERE cloud AND cost_usd > 0 AND ts >= $1",
            month_start,
        )
        for row in rows:
            self._add(row["agent"], float(row["cost_usd"]), float(row["ts"]), announce=False)

    def record(self, record: LedgerRecord) -> None:
        if record.cloud and record.cost_usd > 0:
            self._add(record.agent, record.cost_usd, record.ts, announce=True)

    def exceeded(self, agent: str | None) -> str | None:
        """Why a cloud call for ``agent`` must not be made now, or None."""
        for status in self.status(agent):
            if status.spent_usd >= status.limit_usd:
                who = "team" if status.scope == TEAM else f"{status.scope}'s"
                return (f"{who} {status.period} cloud budget reached "
                        f"(${status.spent_usd:.2f} of ${status.limit_usd:.2f}); local models only")
        return None

    def status(self, agent: str | None = None) -> list[BudgetStatus]:
        keys = self.period_keys()
        scopes = [(TEAM, self._config.team)]
        if agent is not None and agent in self._config.agents:
            scopes.append((agent, self._config.agents[agent]))
        out = []
        for scope, limits in scopes:
            for period, limit in _limits(limits):
                out.append(BudgetStatus(scope, period, self._spent[(scope, keys[period])], limit))
        return out

    def _add(self, agent: str | None, usd: float, ts: float, *, announce: bool) -> None:
        keys = self.period_keys(ts)
        scopes = [(TEAM, self._config.team)]
        if agent is not None and agent in self._config.agents:
            scopes.append((agent, self._config.agents[agent]))
        for scope, limits in scopes:
            for period, limit in _limits(limits):
                bucket = (scope, keys[period])
                self._spent[bucket] = after = self._spent[bucket] + usd
                for threshold in (self._config.warn_at, 1.0):
                    marker = (scope, keys[period], threshold)
                    if marker in self._announced or after < threshold * limit:
                        continue
                    self._announced.add(marker)
                    if announce:
                        self._emit(BudgetEvent(scope, period, keys[period], threshold,
                                               after, limit))

    def _emit(self, event: BudgetEvent) -> None:
        for listener in self._listeners:
            listener(event)


def _limits(limits: BudgetLimits) -> list[tuple[Period, float]]:
    pairs: list[tuple[Period, float | None]] = [
        ("daily", limits.daily_usd), ("monthly", limits.monthly_usd)]
    return [(period, value) for period, value in pairs if value is not None]


class BudgetGate:
    """Step layer: cloud steps are skipped while a budget that covers the agent is spent."""

    def __init__(self, inner: StepCaller, keeper: BudgetKeeper) -> None:
        self._inner = inner
        self._keeper = keeper

    async def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        if step.node.is_cloud:
            reason = self._keeper.exceeded(request.agent)
            if reason is not None:
                raise BudgetExceeded(reason)
        async with aclosing(self._inner.stream(step, request)) as events:
            async for event in events:
                yield event
