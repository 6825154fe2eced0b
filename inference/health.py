"""Per-node health: a circuit breaker fed by request outcomes and background probes.

``HealthBoard`` holds the state; ``HealthGate`` is the step layer that skips open nodes
without waiting and reports each step's outcome; ``inference.probes`` feeds probe results.

States: *closed* (use it), *open* (skip it) and *half-open* (after ``cooldown`` one trial
request may pass; its outcome closes or re-opens the circuit). A timeout opens the circuit
at once, other node failures after ``failure_threshold`` in a row; a successful probe
closes it, a failed probe opens it.
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
from inference.types import ChatRequest

__all__ = ["CircuitOpen", "CircuitState", "HealthBoard", "HealthGate", "NodeHealth"]


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

    @property
    def up(self) -> bool:
        return self.state is not CircuitState.OPEN


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

    def get(self, node: str) -> NodeHealth:
        return self._nodes[node]

    def snapshot(self) -> dict[str, NodeHealth]:
        return dict(self._nodes)

    def would_allow(self, node: str) -> bool:
        """Whether a request would be sent to ``node`` now (no state change)."""
        health = self._nodes[node]
        if health.state is CircuitState.CLOSED:
            return True
        if health.state is CircuitState.HALF_OPEN:
            return node not in self._trials
        return self._cooled_down(health)

    def acquire(self, node: str) -> bool:
        """Ask to send a request to ``node``; half-open nodes admit a single trial."""
        health = self._nodes[node]
        if health.state is CircuitState.CLOSED:
            return True
        if health.state is CircuitState.OPEN and self._cooled_down(health):
            self._set(replace(health, state=CircuitState.HALF_OPEN))
        if self._nodes[node].state is CircuitState.HALF_OPEN and node not in self._trials:
            self._trials.add(node)
            return True
        return False

    def record_success(self, node: str) -> None:
        self._trials.discard(node)
        health = self._nodes[node]
        self._set(replace(health, state=CircuitState.CLOSED, consecutive_failures=0,
                          opened_at=None, last_error=None))

    def record_failure(self, node: str, error: StepError) -> None:
        self._trials.discard(node)
        health = self._nodes[node]
        failures = health.consecutive_failures + 1
        must_open = (
            isinstance(error, NodeTimeout)
            or health.state is CircuitState.HALF_OPEN
            or failures >= self._config.failure_threshold
        )
        state = CircuitState.OPEN if must_open else health.state
        opened_at = self._clock() if must_open else health.opened_at
        self._set(replace(health, state=state, consecutive_failures=failures,
                          opened_at=opened_at, last_error=str(error)))

    def record_probe(self, node: str, ok: bool, latency_s: float | None, detail: str) -> None:
        health = replace(self._nodes[node], probe_ok=ok, probe_latency_s=latency_s,
                         probe_detail=detail, probed_at=self._clock())
        self._set(health)
        if ok and health.state is not CircuitState.CLOSED:
            self.record_success(node)
        elif not ok and health.state is not CircuitState.OPEN:
            self._trials.discard(node)
            self._set(replace(health, state=CircuitState.OPEN, opened_at=self._clock(),
                              last_error=f"probe failed: {detail}"))

    async def wait_for(self, predicate: Callable[[HealthBoard], bool]) -> None:
        """Wait until ``predicate(board)`` holds (checked after every change)."""
        while not predicate(self):
            await self._changed.wait()

    def _cooled_down(self, health: NodeHealth) -> bool:
        opened = health.opened_at if health.opened_at is not None else 0.0
        return self._clock() - opened >= self._config.cooldown

    def release(self, node: str) -> None:
        """Give back a half-open trial that ended without a verdict (e.g. cancelled)."""
        self._trials.discard(node)

    def _set(self, health: NodeHealth) -> None:
        self._nodes[health.name] = health
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
            health = self._board.get(node)
            raise CircuitOpen(f"skipped: circuit open ({health.last_error or 'node down'})")
        settled = False
        try:
            async with aclosing(self._inner.stream(step, request)) as events:
                async for event in events:
                    if not settled and isinstance(event, Chunk):
                        settled = True
                        self._board.record_success(node)
                    yield event
            if not settled:
                settled = True
                self._board.record_success(node)
        except NodeUnavailable as exc:
            settled = True
            self._board.record_failure(node, exc)
            raise
        except StepError:
            settled = True
            self._board.record_success(node)  # it answered: the request was at fault
            raise
        finally:
            if not settled:
                self._board.release(node)
