"""Hedged first token: race the next local step against a slow one.

The chain asks a :class:`Race` for the step that answers a request. Steps start in route
order; while a local step has produced no first token after its ``hedge_after``, the next
step starts beside it (if it is local, or ``hedge_cloud`` is on, and on another node). The
first to produce a first event wins; the others are cancelled (their HTTP requests closed;
the ledger records them as ``cancelled``). Nothing reaches the caller before the winner's
first event, so hedging changes who answers and when, never what the caller sees of a reply.

``hedge_after`` (per route, see ``timeouts``) is seconds, ``off``, or ``auto``: twice the
model's learned p95 time to first token (:class:`~inference.latency.TtftWindow`), at least
1 s; until the model has enough samples in this process, half its ``first_token`` timeout
(at least 1 s). A hedge that would start no earlier than the step's own first-token
deadline is pointless and is not made.

A loser with no first token that had waited at least its own ``hedge_after`` counts as one
node failure (:class:`~inference.errors.HedgeLost`), so a wedged node soon has its circuit
opened and is skipped at no cost. A loser that had its first token (a near tie), or that
started too recently to be overdue, is only cancelled.

A request that would be a suspect node's half-open trial (:mod:`inference.health`) is
hedged at once, where hedging is on: nobody waits on a node that may be wedged. The trial
still runs to its verdict, in the background (:meth:`Hedging.keep_trial`) if it loses: a
first token closes the circuit, a first-token timeout re-opens it with a doubled cool-down.

Without hedging for a step (off, a cloud step, or no eligible next step) the step runs in
the caller's task exactly as before: no extra task, no extra cost per token.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from inference.config import InferenceSettings, RouteHedging
from inference.errors import HedgeLost, RequestRejected, StepError, StepFailure
from inference.latency import TtftWindow
from inference.step import Chunk, Step, StepCaller, StepEvent
from inference.types import ChatRequest, ModelToolCall

__all__ = ["FLOOR_S", "FailureSink", "Hedging", "Race", "Winner"]

FLOOR_S = 1.0
"""The least ``hedge_after: auto`` waits, however fast a model usually is."""


class FailureSink(Protocol):
    """What hedging needs of the health board: where a lost race is reported as a node
    failure, and whether a request now would be a node's half-open trial."""

    def record_failure(self, node: str, error: StepError) -> None: ...

    def would_trial(self, node: str) -> bool: ...


class Hedging:
    """Per-process hedging policy: the route rules, learned first-token times, health."""

    def __init__(
        self,
        settings: InferenceSettings,
        health: FailureSink,
        latency: TtftWindow | None = None,
    ) -> None:
        self.latency = latency if latency is not None else TtftWindow()
        self._health = health
        self._rules = {route: settings.route_hedging(route) for route in settings.routes}
        self._default = settings.route_hedging("")  # a model alias's one-step route
        self._trials: set[asyncio.Task[None]] = set()  # lost trials, running to a verdict

    def rule(self, route: str) -> RouteHedging:
        return self._rules.get(route, self._default)

    def patience(self, step: Step) -> float:
        """How long ``step`` may go without a first token before it is overdue."""
        after = self.rule(step.route).after
        if isinstance(after, float):
            return after
        p95 = self.latency.p95(step.alias)
        if p95 is None:
            return max(FLOOR_S, step.timeouts.first_token / 2)
        return max(FLOOR_S, 2 * p95)

    def delay(self, step: Step) -> float | None:
        """Seconds after which a hedge may start beside ``step``; ``None``: never."""
        if step.node.is_cloud or self.rule(step.route).after is None:
            return None
        if self.is_trial(step):
            return 0.0
        after = self.patience(step)
        first_wait = min(step.timeouts.first_token, step.timeouts.total)
        return after if after < first_wait else None

    def may_join(self, step: Step, running: Sequence[Step]) -> bool:
        """Whether ``step`` may be started beside the ``running`` ones."""
        if step.node.is_cloud and not self.rule(step.route).cloud:
            return False
        return all(other.node_name != step.node_name for other in running)

    def observe(self, step: Step, seconds: float) -> None:
        self.latency.observe(step.alias, seconds)

    def lost(self, step: Step, error: HedgeLost) -> None:
        self._health.record_failure(step.node_name, error)

    def is_trial(self, step: Step) -> bool:
        """Whether ``step`` started now would be its node's half-open trial."""
        return self._health.would_trial(step.node_name)

    def keep_trial(self, first: asyncio.Task[StepEvent | None],
                   events: AsyncGenerator[StepEvent, None]) -> None:
        """Let a trial that lost its race run on to its verdict (its first event, or its
        own first-token deadline), then close it; owned here until :meth:`aclose`."""
        task = asyncio.create_task(_settle_trial(first, events), name="half-open-trial")
        self._trials.add(task)
        task.add_done_callback(self._trials.discard)

    async def aclose(self) -> None:
        """Stop the trials still running (the process is shutting down)."""
        trials = list(self._trials)
        for task in trials:
            task.cancel()
        await asyncio.gather(*trials, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class Winner:
    """The step that answers: its first event (``None``: it ended without any) and the rest.

    The caller owns ``events`` (already started) and must close it.
    """

    step: Step
    first: StepEvent | None
    events: AsyncGenerator[StepEvent, None]
    started: float
    hedged: bool


@dataclass(eq=False)
class _Runner:
    step: Step
    events: AsyncGenerator[StepEvent, None]
    first: asyncio.Task[StepEvent | None]
    started: float
    hedge_at: float | None  # when a hedge may start beside it (None: never)
    trial: bool = False  # its node's half-open trial: runs on to a verdict if it loses


async def _first_event(events: AsyncGenerator[StepEvent, None]) -> StepEvent | None:
    return await anext(events, None)


async def _finish(
    first: asyncio.Task[StepEvent | None], events: AsyncGenerator[StepEvent, None]
) -> None:
    """Let a (cancelled) first-event task end, then close its stream."""
    await asyncio.wait([first])
    if not first.cancelled():
        first.exception()  # retrieved: a lost or failed attempt is already accounted for
    with contextlib.suppress(Exception):
        await events.aclose()


async def _settle_trial(
    first: asyncio.Task[StepEvent | None], events: AsyncGenerator[StepEvent, None]
) -> None:
    """Wait for a trial's first event (its verdict is recorded on the way), then close it;
    stopped early (shutdown), cancel it and still close its stream."""
    try:
        await asyncio.wait([first])
    finally:
        first.cancel()
        await _finish(first, events)


@dataclass
class _Failures:
    items: list[tuple[int, StepFailure]] = field(default_factory=list)

    def add(self, step: Step, reason: str, kind: str) -> None:
        self.items.append((step.depth, StepFailure(step.alias, step.node_name, reason, kind)))
        self.items.sort(key=lambda item: item[0])  # route order, as if tried one by one

    def __call__(self) -> list[StepFailure]:
        return [failure for _, failure in self.items]


class Race:
    """The attempts of one request, up to the first event of the step that answers."""

    def __init__(
        self,
        caller: StepCaller,
        request: ChatRequest,
        steps: Sequence[Step],
        hedging: Hedging | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._caller = caller
        self._request = request
        self._steps = steps
        self._hedging = hedging
        self._clock = clock
        self._next = 0  # index of the next step not yet started
        self._stop = len(steps)  # steps from here on are never started (after a rejection)
        self._running: list[_Runner] = []
        self._closing: list[asyncio.Task[None]] = []
        self._rejected: RequestRejected | None = None
        self._started_together = 0
        self._failures = _Failures()

    @property
    def failures(self) -> list[StepFailure]:
        return self._failures()

    def fail(self, step: Step, error: StepError) -> None:
        """Note a step that failed (also one that failed after winning, unstreamed)."""
        self._failures.add(step, str(error), error.kind)

    async def next(self) -> Winner | None:
        """The next step that produces a first event, or ``None`` when none is left."""
        while True:
            if not self._running:
                if self._rejected is not None:
                    raise self._rejected
                step = self._take()
                if step is None:
                    return None
                if not self._hedgeable(step):
                    won = await self._alone(step)
                    if won is not None:
                        return won
                    continue
                self._started_together = 0
                self._start(step)
            won = await self._wait()
            if won is not None:
                return won

    async def aclose(self) -> None:
        """Cancel whatever still runs and wait for every cancelled attempt to end."""
        for runner in self._running:
            runner.first.cancel()
            self._dispose(runner)
        self._running.clear()
        pending, self._closing = self._closing, []
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- one step at a time ----------------------------------------------------------------

    async def _alone(self, step: Step) -> Winner | None:
        started = self._clock()
        events = self._caller.stream(step, self._request)
        try:
            first = await anext(events, None)
        except RequestRejected:
            await events.aclose()
            raise
        except StepError as exc:
            await events.aclose()
            self.fail(step, exc)
            return None
        except BaseException:
            await events.aclose()
            raise
        self._observe(step, first, started)
        return Winner(step, first, events, started, hedged=False)

    # -- racing ----------------------------------------------------------------------------

    def _take(self) -> Step | None:
        if self._next >= self._stop:
            return None
        step = self._steps[self._next]
        self._next += 1
        return step

    def _hedgeable(self, step: Step) -> bool:
        """Whether ``step`` could ever have a hedge started beside it."""
        if self._hedging is None or self._hedging.delay(step) is None:
            return False
        following = self._next if self._next < self._stop else None
        return following is not None and self._hedging.may_join(self._steps[following], [step])

    def _start(self, step: Step) -> None:
        assert self._hedging is not None
        started = self._clock()
        delay = self._hedging.delay(step)
        trial = self._hedging.is_trial(step)
        events = self._caller.stream(step, self._request)
        task = asyncio.create_task(_first_event(events), name=f"first-token:{step.alias}")
        hedge_at = None if delay is None else started + delay
        self._running.append(_Runner(step, events, task, started, hedge_at, trial))
        self._started_together += 1

    def _due(self) -> float | None:
        """Seconds until a hedge may start (0: now), or ``None`` if none will."""
        if len(self._running) != 1 or self._hedging is None or self._next >= self._stop:
            return None
        runner = self._running[0]
        following = self._steps[self._next]
        if runner.hedge_at is None or not self._hedging.may_join(following, [runner.step]):
            return None
        return max(0.0, runner.hedge_at - self._clock())

    async def _wait(self) -> Winner | None:
        """Wait for a first event, a failure, or the time to hedge; act on it."""
        due = self._due()
        if due == 0.0:
            step = self._take()
            assert step is not None
            self._start(step)
            return None
        done, _ = await asyncio.wait(
            [r.first for r in self._running], timeout=due, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            return None  # time to hedge: the next round starts it
        finished = sorted((r for r in self._running if r.first.done()), key=lambda r: r.step.depth)
        for runner in finished:
            if runner not in self._running:
                continue  # cancelled by a rejection from an earlier step
            error = runner.first.exception()
            if error is None:
                return self._win(runner)
            self._running.remove(runner)
            self._dispose(runner)
            self._failed(runner.step, error)
        return None

    def _dispose(self, runner: _Runner) -> None:
        self._closing.append(asyncio.create_task(_finish(runner.first, runner.events),
                                                 name=f"close:{runner.step.alias}"))

    def _failed(self, step: Step, error: BaseException) -> None:
        if isinstance(error, RequestRejected):
            # As if tried in order: raised unless an earlier step still answers, and no
            # later step is tried.
            if self._stop > step.depth:
                self._rejected = error
                self._stop = step.depth
            self._cancel(lambda r: r.step.depth > step.depth, "another step rejected the request")
            return
        if not isinstance(error, StepError):
            self._cancel(lambda r: True, "another step failed")
            raise error
        self.fail(step, error)

    def _cancel(self, which: Callable[[_Runner], bool], reason: str) -> None:
        for runner in [r for r in self._running if which(r)]:
            runner.first.cancel(reason)
            self._dispose(runner)
            self._running.remove(runner)

    def _win(self, winner: _Runner) -> Winner:
        now = self._clock()
        first = winner.first.result()
        self._observe(winner.step, first, winner.started)
        self._running.remove(winner)
        for loser in self._running:
            self._lose(loser, winner.step, now)
        self._running.clear()
        return Winner(winner.step, first, winner.events, winner.started,
                      hedged=self._started_together > 1)

    def _lose(self, loser: _Runner, winner: Step, now: float) -> None:
        if loser.step.depth > winner.depth:
            # Not failed, only cancelled: tried again should the winner fail unstreamed.
            self._next = min(self._next, loser.step.depth)
        if loser.first.done():
            # A near tie (it had its first token too) or a failure of its own: no verdict.
            error = None if loser.first.cancelled() else loser.first.exception()
            if isinstance(error, StepError) and loser.step.depth < winner.depth:
                self.fail(loser.step, error)
            self._dispose(loser)
            return
        waited = now - loser.started
        reason = (f"no first token within {waited:.1f}s; "
                  f"{winner.alias}@{winner.node_name} answered first")
        if loser.trial and self._hedging is not None:
            self._hedging.keep_trial(loser.first, loser.events)  # its verdict still counts
            return
        loser.first.cancel(f"lost a hedge: {reason}")
        self._dispose(loser)
        lost = HedgeLost(reason)
        if loser.step.depth < winner.depth:
            self.fail(loser.step, lost)
        if self._hedging is not None and waited >= self._hedging.patience(loser.step):
            self._hedging.lost(loser.step, lost)

    def _observe(self, step: Step, first: StepEvent | None, started: float) -> None:
        if self._hedging is not None and isinstance(first, Chunk | ModelToolCall):
            self._hedging.observe(step, self._clock() - started)
