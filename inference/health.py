"""Per-node health: a circuit breaker fed by request outcomes and background probes.

``HealthBoard`` holds the state; ``HealthGate`` is the step layer that skips open nodes
without waiting and reports each step's outcome; ``inference.probes`` feeds probe results.

States: *closed* (use it), *open* (skip it) and *half-open* (one trial request at a time
may pass; the others skip the node as if it were open). A timeout opens the circuit at
once, other node failures after ``failure_threshold`` in a row, and so does a failed probe.

Only a real request that succeeds closes a circuit that a request failure opened: a node
that lists its models while its completions hang (a *wedged* node) keeps passing probes,
so a probe can only move such a circuit to half-open, and only when it saw the node come
back (a failed probe, then a good one). Otherwise the circuit turns half-open after its
cool-down; each failed trial re-opens it and doubles the cool-down (up to
``cooldown_max``). While a node fails its probes no trial is sent: the probe is the trial.
A circuit that probes alone opened (no request failed) is closed by the probe that sees
the node back.

Other replicas' reports (shared health, :mod:`inference.shared_health`) sit beside the
local circuit and never change it: while a report from another replica says a node is
down (and has not expired), the node is skipped here too. A report ends when it expires,
when its replica says the node is up again, or when this replica sees the node answer (a
real request succeeds, or a probe succeeds after a failed one). Listeners
(:meth:`HealthBoard.add_listener`) hear every change of a local circuit's state.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, replace

from inference.config import HealthConfig
from inference.errors import NodeTimeout, NodeUnavailable, StepError
from inference.step import Chunk, Step, StepCaller, StepEvent
from inference.types import ChatRequest, ModelToolCall

__all__ = [
    "CircuitOpen",
    "CircuitState",
    "HealthBoard",
    "HealthGate",
    "NodeHealth",
    "StateListener",
]


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitOpen(NodeUnavailable):
    """The node was skipped without a call because its circuit is open."""

    kind = "circuit_open"


@dataclass(frozen=True, slots=True)
class NodeHealth:
    name: str
    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    opened_at: float | None = None
    last_error: str | None = None
    probe_ok: bool | None = None
    probe_latency_s: float | None = None
    probe_detail: str | None = None
    probed_at: float | None = None
    request_failed: bool = False  # a real request failed since the circuit last closed
    failed_trials: int = 0  # half-open trials that failed in a row (doubles the cool-down)
    remote_down: str | None = None  # another replica reports it down: "replica: detail"

    @property
    def up(self) -> bool:
        return self.state is not CircuitState.OPEN and self.remote_down is None


StateListener = Callable[[NodeHealth, NodeHealth], None]
"""Called with (before, after) when a node's local circuit changes state; must not block."""


@dataclass(frozen=True, slots=True)
class _RemoteReport:
    until: float  # board clock
    detail: str


class HealthBoard:
    """Health of every node. Single-threaded (one event loop); no locking needed."""

    def __init__(
        self,
        config: HealthConfig,
        nodes: Iterable[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._clock = clock
        self._nodes = {name: NodeHealth(name) for name in nodes}
        self._trials: set[str] = set()
        self._changed = asyncio.Event()
        self._opened = {name: asyncio.Event() for name in self._nodes}
        self._remote: dict[str, dict[str, _RemoteReport]] = {name: {} for name in self._nodes}
        self._listeners: list[StateListener] = []

    @property
    def nodes(self) -> list[str]:
        return list(self._nodes)

    def get(self, node: str) -> NodeHealth:
        """The node's health; ``remote_down`` says whether another replica reports it down."""
        health = self._nodes[node]
        remote = self._remote_reports(node)
        if not remote:
            return health
        shown = "; ".join(f"{replica}: {report.detail}" for replica, report in remote.items())
        return replace(health, remote_down=shown)

    def snapshot(self) -> dict[str, NodeHealth]:
        return {name: self.get(name) for name in self._nodes}

    def add_listener(self, listener: StateListener) -> None:
        """Hear every change of a local circuit's state (not remote reports)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        self._listeners.remove(listener)

    def locally_down(self, node: str) -> bool:
        """Whether this replica's own circuit of ``node`` is not closed."""
        return self._nodes[node].state is not CircuitState.CLOSED

    def report_remote(self, node: str, replica: str, *, down: bool, detail: str = "",
                      ttl: float = 0.0) -> None:
        """Another replica's report: ``node`` is down (for ``ttl`` seconds) or up again.

        Unknown nodes are ignored (replicas may run different configs).
        """
        reports = self._remote.get(node)
        if reports is None:
            return
        if down:
            reports[replica] = _RemoteReport(self._clock() + ttl, detail)
        elif reports.pop(replica, None) is None:
            return
        self._notify()

    def skip_reason(self, node: str) -> str:
        """Why ``node`` is skipped now (for the step's error)."""
        remote = self._remote_reports(node)
        if remote:
            replica, report = next(iter(remote.items()))
            return f"down at replica {replica} ({report.detail or 'node down'})"
        return f"circuit open ({self._nodes[node].last_error or 'node down'})"

    def would_allow(self, node: str) -> bool:
        """Whether a request would be sent to ``node`` now (no state change)."""
        if self._remote_reports(node):
            return False
        health = self._nodes[node]
        if health.state is CircuitState.CLOSED:
            return True
        if health.state is CircuitState.HALF_OPEN:
            return node not in self._trials
        return self._trial_due(health)

    def would_trial(self, node: str) -> bool:
        """Whether a request sent to ``node`` now would be its half-open trial."""
        if not self.would_allow(node):
            return False
        return self._nodes[node].state is not CircuitState.CLOSED

    def acquire(self, node: str) -> bool:
        """Ask to send a request to ``node``; half-open nodes admit a single trial."""
        if self._remote_reports(node):
            return False
        health = self._nodes[node]
        if health.state is CircuitState.CLOSED:
            return True
        if health.state is CircuitState.OPEN and self._trial_due(health):
            self._set(replace(health, state=CircuitState.HALF_OPEN))
        if self._nodes[node].state is CircuitState.HALF_OPEN and node not in self._trials:
            self._trials.add(node)
            return True
        return False

    def release(self, node: str) -> None:
        """Give back a half-open trial that ended without a verdict (e.g. cancelled)."""
        self._trials.discard(node)

    def record_success(self, node: str, *, trial: bool | None = None) -> None:
        """A real request to ``node`` succeeded: the circuit closes.

        ``trial`` says whether the request was the half-open trial (``None``: don't know);
        a success closes the circuit either way.
        """
        self._trials.discard(node)
        self._remote[node].clear()  # seen answering here: other replicas' reports end
        health = self._nodes[node]
        self._set(replace(health, state=CircuitState.CLOSED, consecutive_failures=0,
                          opened_at=None, last_error=None, request_failed=False,
                          failed_trials=0))

    def record_failure(self, node: str, error: StepError, *, trial: bool | None = None) -> None:
        """A real request to ``node`` failed because of the node.

        ``trial``: whether the request was the half-open trial (``None``: assume so while a
        trial is out). A failed trial re-opens the circuit and restarts a doubled
        cool-down; a request sent before the circuit opened only adds to the record.
        """
        is_trial = node in self._trials and trial is not False
        if is_trial:
            self._trials.discard(node)
        health = self._nodes[node]
        failures = health.consecutive_failures + 1
        failed = replace(health, consecutive_failures=failures, last_error=str(error),
                         request_failed=True)
        if is_trial:
            failed = replace(failed, state=CircuitState.OPEN, opened_at=self._clock(),
                             failed_trials=health.failed_trials + 1)
        elif health.state is CircuitState.CLOSED and (
            isinstance(error, NodeTimeout) or failures >= self._config.failure_threshold
        ):
            failed = replace(failed, state=CircuitState.OPEN, opened_at=self._clock())
        self._set(failed)

    def record_probe(self, node: str, ok: bool, latency_s: float | None, detail: str) -> None:
        """A background probe's result (see the module docstring for what it may change)."""
        before = self._nodes[node]
        if ok and before.probe_ok is False:
            self._remote[node].clear()  # seen coming back here: other replicas' reports end
        health = replace(before, probe_ok=ok, probe_latency_s=latency_s,
                         probe_detail=detail, probed_at=self._clock())
        if not ok:
            if health.state is not CircuitState.OPEN:
                self._trials.discard(node)
                health = replace(health, state=CircuitState.OPEN, opened_at=self._clock(),
                                 last_error=f"probe failed: {detail}")
        elif health.state is not CircuitState.CLOSED:
            if not health.request_failed:
                self._trials.discard(node)
                health = replace(health, state=CircuitState.CLOSED, consecutive_failures=0,
                                 opened_at=None, last_error=None, failed_trials=0)
            elif health.state is CircuitState.OPEN and before.probe_ok is False:
                health = replace(health, state=CircuitState.HALF_OPEN)
        self._set(health)

    async def wait_for(self, predicate: Callable[[HealthBoard], bool]) -> None:
        """Wait until ``predicate(board)`` holds (checked after every change)."""
        while not predicate(self):
            await self._changed.wait()

    async def wait_opened(self, node: str) -> None:
        """Wait until ``node``'s circuit next turns open (from closed or half-open)."""
        await self._opened[node].wait()

    def cooldown_of(self, node: str) -> float:
        """The current cool-down of ``node``: doubled by each failed trial, capped."""
        health = self._nodes[node]
        config = self._config
        doublings = min(health.failed_trials, 30)  # a node wedged for days must not overflow
        return min(config.cooldown * 2.0 ** doublings, max(config.cooldown, config.cooldown_max))

    def _trial_due(self, health: NodeHealth) -> bool:
        if health.probe_ok is False:
            return False  # it does not even answer probes: the probe is the trial
        opened = health.opened_at if health.opened_at is not None else 0.0
        return self._clock() - opened >= self.cooldown_of(health.name)

    def _remote_reports(self, node: str) -> dict[str, _RemoteReport]:
        """The unexpired reports of other replicas that ``node`` is down."""
        reports = self._remote[node]
        if reports:
            now = self._clock()
            for replica in [r for r, report in reports.items() if report.until <= now]:
                del reports[replica]
        return reports

    def _set(self, health: NodeHealth) -> None:
        before = self._nodes[health.name]
        self._nodes[health.name] = health
        if health.state is CircuitState.OPEN and before.state is not CircuitState.OPEN:
            opened, self._opened[health.name] = self._opened[health.name], asyncio.Event()
            opened.set()
        if health.state is not before.state:
            for listener in list(self._listeners):
                listener(before, health)
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class HealthGate:
    """Step layer: skip open nodes at no cost and feed every outcome to the board."""

    def __init__(self, inner: StepCaller, board: HealthBoard) -> None:
        self._inner = inner
        self._board = board

    async def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        node = step.node_name
        if not self._board.acquire(node):
            raise CircuitOpen(f"skipped: {self._board.skip_reason(node)}")
        trial = self._board.get(node).state is CircuitState.HALF_OPEN
        settled = False
        try:
            async with aclosing(self._inner.stream(step, request)) as events:
                async for event in events:
                    if not settled and isinstance(event, Chunk | ModelToolCall):
                        settled = True
                        self._board.record_success(node, trial=trial)
                    yield event
            if not settled:
                settled = True
                self._board.record_success(node, trial=trial)
        except NodeUnavailable as exc:
            settled = True
            self._board.record_failure(node, exc, trial=trial)
            raise
        except StepError:
            settled = True
            self._board.record_success(node, trial=trial)  # it answered: the request was at fault
            raise
        finally:
            if not settled and trial:
                self._board.release(node)
