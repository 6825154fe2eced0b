"""Embeddings through the local-first chain: each step of an embedding route in turn.

An embedding route is one whose models are marked ``embedding: true`` (a route is all
embedding models or none: see :class:`~inference.config.InferenceSettings`). Its steps are
tried in route order, each through the same kinds of layers a chat step goes through,
outermost first::

    EmbedChain → EmbedBudgetGate → EmbedHealthGate → EmbedMetered → EmbedDeadlines
        → NativeEmbedder (inference.native: Ollama /api/embed, OpenAI-compatible /embeddings)

* ``EmbedBudgetGate`` skips a cloud step while a spend limit covering the agent is reached;
* ``EmbedHealthGate`` skips a node whose circuit is open without calling it and reports
  each outcome to the same :class:`~inference.health.HealthBoard` as chat does (a node
  often serves both), with the same meaning: a node failure counts against the node, an
  answer that rejects the request does not;
* ``EmbedMetered`` writes one :class:`~inference.records.LedgerRecord` per attempt (prompt
  tokens, cost, key, agent, outcome) to the stack's sink;
* ``EmbedDeadlines`` gives the step ``total`` seconds (``connect`` bounds the connection).

The chain raises a :class:`~inference.errors.RequestRejected` at once; every other step
failure falls through to the next step, and :class:`~inference.errors.AllStepsFailed`
lists them all when none answered. There is no hedging and no cache: an embedding call is
one short request, and its answer is not text a cache of replies holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from inference.budget import BudgetKeeper
from inference.config import InferenceSettings
from inference.errors import (
    AllStepsFailed,
    BudgetExceeded,
    NodeTimeout,
    NodeUnavailable,
    RequestRejected,
    StepError,
    StepFailure,
    UnknownRouteError,
)
from inference.health import CircuitOpen, CircuitState, HealthBoard
from inference.pricing import Pricing
from inference.records import LedgerRecord, RecordSink
from inference.step import EmbedCaller, Embedded, Step, step_of, steps_of
from inference.types import EmbedRequest, EmbedResult

__all__ = [
    "EmbedBudgetGate",
    "EmbedChain",
    "EmbedDeadlines",
    "EmbedHealthGate",
    "EmbedMetered",
]


class EmbedChain:
    """Tries the steps of an embedding route in order until one answers."""

    def __init__(self, settings: InferenceSettings, caller: EmbedCaller,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._caller = caller
        self._clock = clock
        # As for chat: an embedding model's alias is a route of that one step (a route's
        # name wins over an alias's).
        self._steps: dict[str, tuple[Step, ...]] = {
            alias: (step_of(settings, alias, alias, 0),)
            for alias, model in settings.models.items() if model.embedding}
        self._steps.update({route: steps_of(settings, route)
                            for route in settings.routes_of_kind(embedding=True)})

    def steps(self, route: str) -> tuple[Step, ...]:
        """The steps of an embedding route, or the one step of an embedding model's alias."""
        try:
            return self._steps[route]
        except KeyError:
            if route in self._settings.routes or route in self._settings.models:
                raise UnknownRouteError(route, self._settings.routes_of_kind(embedding=True),
                                        kind="embedding") from None
            raise UnknownRouteError(route, list(self._settings.routes)) from None

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        steps = self.steps(request.route)
        _check(request)
        started = self._clock()
        failures: list[StepFailure] = []
        for step in steps:
            try:
                answer = await self._caller.embed(step, request)
            except RequestRejected:
                raise
            except StepError as exc:
                failures.append(StepFailure(step.alias, step.node_name, str(exc), exc.kind))
                continue
            return EmbedResult(
                route=step.route, node=step.node_name, model=step.alias,
                upstream_model=step.upstream_model, vectors=answer.vectors,
                prompt_tokens=answer.prompt_tokens, cost_usd=answer.cost_usd,
                latency_s=self._clock() - started, fallback_depth=step.depth,
                fell_back_from=tuple(f"{f.model} ({f.kind}: {f.reason})" for f in failures),
            )
        raise AllStepsFailed(request.route, failures)


def _check(request: EmbedRequest) -> None:
    """What no node would answer: raised before any step is tried."""
    if not request.inputs:
        raise RequestRejected("inputs: nothing to embed (no text given)")
    if request.dimensions is not None and request.dimensions < 1:
        raise RequestRejected(f"dimensions: must be at least 1 (got {request.dimensions})")


class EmbedBudgetGate:
    """Cloud steps are skipped while a budget that covers the agent is spent."""

    def __init__(self, inner: EmbedCaller, keeper: BudgetKeeper) -> None:
        self._inner = inner
        self._keeper = keeper

    async def embed(self, step: Step, request: EmbedRequest) -> Embedded:
        if step.node.is_cloud:
            reason = self._keeper.exceeded(request.agent)
            if reason is not None:
                raise BudgetExceeded(reason)
        return await self._inner.embed(step, request)


class EmbedHealthGate:
    """Skips open nodes at no cost and feeds every outcome to the board (as ``HealthGate``)."""

    def __init__(self, inner: EmbedCaller, board: HealthBoard) -> None:
        self._inner = inner
        self._board = board

    async def embed(self, step: Step, request: EmbedRequest) -> Embedded:
        node = step.node_name
        if not self._board.acquire(node):
            health = self._board.get(node)
            raise CircuitOpen(f"skipped: circuit open ({health.last_error or 'node down'})")
        trial = self._board.get(node).state is CircuitState.HALF_OPEN
        try:
            answer = await self._inner.embed(step, request)
        except NodeUnavailable as exc:
            self._board.record_failure(node, exc, trial=trial)
            raise
        except StepError:
            self._board.record_success(node, trial=trial)  # it answered: the request was at fault
            raise
        except BaseException:
            if trial:
                self._board.release(node)
            raise
        self._board.record_success(node, trial=trial)
        return answer


class EmbedDeadlines:
    """The step gets ``total`` seconds for its whole answer."""

    def __init__(self, inner: EmbedCaller) -> None:
        self._inner = inner

    async def embed(self, step: Step, request: EmbedRequest) -> Embedded:
        total = step.timeouts.total
        try:
            async with asyncio.timeout(total):
                return await self._inner.embed(step, request)
        except TimeoutError:
            raise NodeTimeout(f"no embeddings within {total:g}s") from None


@dataclass
class _Attempt:
    started: float
    answer: Embedded | None = None
    outcome: str = "cancelled"
    error: str | None = "the caller stopped waiting"


class EmbedMetered:
    """One ledger record per attempt: tokens, cost, timing and outcome."""

    def __init__(self, inner: EmbedCaller, sink: RecordSink, pricing: Pricing,
                 clock: Callable[[], float] = time.time) -> None:
        self._inner = inner
        self._sink = sink
        self._pricing = pricing
        self._clock = clock

    async def embed(self, step: Step, request: EmbedRequest) -> Embedded:
        attempt = _Attempt(started=self._clock())
        try:
            answer = await self._inner.embed(step, request)
            cost = self._pricing.embedding_cost(step.alias, answer.prompt_tokens)
            attempt.answer = replace(answer, cost_usd=cost.usd)
            attempt.outcome, attempt.error = "ok", None
            return attempt.answer
        except StepError as exc:
            attempt.outcome, attempt.error = exc.kind, str(exc)
            raise
        finally:
            self._sink.record(self._record(step, request, attempt))

    def _record(self, step: Step, request: EmbedRequest, attempt: _Attempt) -> LedgerRecord:
        answer = attempt.answer
        tokens = answer.prompt_tokens if answer is not None else 0
        cost = self._pricing.embedding_cost(step.alias, tokens)
        return LedgerRecord(
            ts=attempt.started, route=step.route, node=step.node_name, model=step.alias,
            upstream_model=step.upstream_model, agent=request.agent,
            key_name=request.key_name, prompt_tokens=tokens, completion_tokens=0,
            cost_usd=cost.usd, cloud_equivalent_usd=cost.cloud_equivalent_usd,
            latency_s=self._clock() - attempt.started, ttft_s=None, fallback_depth=step.depth,
            outcome=attempt.outcome, error=attempt.error, cloud=step.node.is_cloud,
            tokens_estimated=answer.estimated if answer is not None else False,
        )
