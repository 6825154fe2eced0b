"""The local-first chain: try each step of a route in order until one answers.

Nothing is committed to the caller before a step's first token, so every failure before
that point falls through to the next step. A failure after it ends the reply with an
explicit marker (``INTERRUPTED_MARKER``, unless ``request.mark_interruptions`` is off) and
``ReplyDone.interrupted`` set. Rejections (bad request, context too long) are raised at
once instead of being retried down the route; when every step fails the caller gets one
:class:`AllStepsFailed` listing them all.

A request's ``route`` may also name a model alias: that one step, alone (no fallback).

Health, metering and deadlines are step layers (see :mod:`inference.step`); the chain
itself only orders steps and commits text. Which step answers is decided by a
:class:`~inference.hedge.Race`: in route order, with a hedge started beside a slow local
step when ``hedging`` is given (see :mod:`inference.hedge`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from inference.config import InferenceSettings
from inference.errors import (
    AllStepsFailed,
    NodeTimeout,
    RequestRejected,
    StepError,
    StepFailure,
    UnknownRouteError,
)
from inference.hedge import Hedging, Race, Winner
from inference.step import Step, StepCaller, StepEvent, Usage, step_of, steps_of
from inference.types import (
    INTERRUPTED_MARKER,
    ChatRequest,
    ModelToolCall,
    ReplyDone,
    StreamEvent,
    TextDelta,
)

__all__ = ["Chain", "Responder"]


class Responder(Protocol):
    """Anything that answers a chat request as a stream (the chain, the cache layer)."""

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]: ...


@dataclass
class _Progress:
    started: float
    mark: bool = True  # append INTERRUPTED_MARKER to the text when the reply breaks off
    parts: list[str] = field(default_factory=list)
    calls: list[ModelToolCall] = field(default_factory=list)
    ttft: float | None = None
    usage: Usage | None = None
    interrupted: str | None = None


class Chain:
    def __init__(
        self,
        settings: InferenceSettings,
        caller: StepCaller,
        clock: Callable[[], float] = time.monotonic,
        hedging: Hedging | None = None,
    ) -> None:
        self._settings = settings
        self._caller = caller
        self._clock = clock
        self._hedging = hedging
        # Settings do not change while the chain runs: each route's steps are built once.
        # A model alias is a route of that one step (a route's name wins over an alias's).
        # Embedding routes and models are not chat's (see inference.embed).
        self._steps: dict[str, tuple[Step, ...]] = {
            alias: (step_of(settings, alias, alias, 0),)
            for alias, model in settings.models.items() if not model.embedding}
        self._steps.update({route: steps_of(settings, route)
                            for route in settings.routes_of_kind(embedding=False)})

    @property
    def hedging(self) -> Hedging | None:
        return self._hedging

    def steps(self, route: str) -> tuple[Step, ...]:
        """The steps of ``route``: a route's, or the one step of a model alias."""
        try:
            return self._steps[route]
        except KeyError:
            if route in self._settings.routes:
                raise UnknownRouteError(route, list(self._steps), kind="chat") from None
            raise UnknownRouteError(route, list(self._settings.routes)) from None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        progress = _Progress(started=self._clock(), mark=request.mark_interruptions)
        race = Race(self._caller, request, self.steps(request.route), self._hedging, self._clock)
        try:
            while (won := await race.next()) is not None:
                attempt = self._streamed if request.stream else self._buffered
                try:
                    async with aclosing(attempt(won, progress)) as events:
                        async for event in events:
                            yield event
                except RequestRejected:
                    raise
                except StepError as exc:
                    race.fail(won.step, exc)
                    progress = _Progress(started=progress.started, mark=progress.mark)
                    continue
                yield self._done(won, progress, race.failures)
                return
        finally:
            await race.aclose()
        raise AllStepsFailed(request.route, race.failures)

    async def _streamed(self, won: Winner, progress: _Progress
                        ) -> AsyncGenerator[TextDelta | ModelToolCall, None]:
        async with aclosing(won.events) as events:
            if won.first is None:
                return
            out = self._take(won.first, progress)
            if out is not None:
                yield out
            try:
                async for event in events:
                    out = self._take(event, progress)
                    if out is not None:
                        yield out
            except StepError as exc:
                progress.interrupted = str(exc)
                if progress.mark:
                    marker = INTERRUPTED_MARKER.format(reason=exc)
                    progress.parts.append(marker)
                    yield TextDelta(marker)

    async def _buffered(self, won: Winner, progress: _Progress
                        ) -> AsyncGenerator[TextDelta | ModelToolCall, None]:
        total = won.step.timeouts.total
        try:
            async with asyncio.timeout(max(0.0, total - (self._clock() - won.started))):
                async with aclosing(won.events) as events:
                    if won.first is not None:
                        self._take(won.first, progress)
                    async for event in events:
                        self._take(event, progress)
        except TimeoutError:
            raise NodeTimeout(f"no complete reply within {total:g}s") from None
        if progress.parts:
            yield TextDelta("".join(progress.parts))
        for call in progress.calls:
            yield call

    def _take(self, event: StepEvent, progress: _Progress) -> TextDelta | ModelToolCall | None:
        """Record an event; returns what it carries for the caller, if anything."""
        if isinstance(event, Usage):
            progress.usage = event
            return None
        if progress.ttft is None:
            progress.ttft = self._clock() - progress.started
        if isinstance(event, ModelToolCall):
            progress.calls.append(event)
            return event
        progress.parts.append(event.text)
        return TextDelta(event.text)

    def _done(self, won: Winner, progress: _Progress, failures: list[StepFailure]) -> ReplyDone:
        step = won.step
        usage = progress.usage or Usage(0, 0)
        return ReplyDone(
            route=step.route,
            node=step.node_name,
            model=step.alias,
            upstream_model=step.upstream_model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            latency_s=self._clock() - progress.started,
            ttft_s=progress.ttft,
            fallback_depth=step.depth,
            fell_back_from=tuple(f"{f.model} ({f.kind}: {f.reason})" for f in failures),
            notices=tuple(dict.fromkeys(f.reason for f in failures if f.kind == "budget")),
            interrupted=progress.interrupted,
            finish_reason=usage.finish_reason,
            text="".join(progress.parts),
            hedged=won.hedged,
            tool_calls=tuple(progress.calls),
        )

