"""The local-first chain: try each step of a route in order until one answers.

Nothing is committed to the caller before a step's first token, so every failure before
that point falls through to the next step. A failure after it ends the reply with an
explicit marker (``INTERRUPTED_MARKER``) and ``ReplyDone.interrupted`` set. Rejections
(bad request, context too long) are raised at once instead of being retried down the
route; when every step fails the caller gets one :class:`AllStepsFailed` listing them all.

Health, metering and deadlines are step layers (see :mod:`inference.step`); the chain
itself only orders steps and commits text.
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
from inference.step import Step, StepCaller, StepEvent, Usage
from inference.types import INTERRUPTED_MARKER, ChatRequest, ReplyDone, StreamEvent, TextDelta

__all__ = ["Chain", "Responder"]


class Responder(Protocol):
    """Anything that answers a chat request as a stream (the chain, the cache layer)."""

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]: ...


@dataclass
class _Progress:
    started: float
    parts: list[str] = field(default_factory=list)
    ttft: float | None = None
    usage: Usage | None = None
    interrupted: str | None = None


class Chain:
    def __init__(
        self,
        settings: InferenceSettings,
        caller: StepCaller,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._caller = caller
        self._clock = clock
        # Settings do not change while the chain runs: each route's steps are built once.
        self._steps = {route: _steps_of(settings, route) for route in settings.routes}

    def steps(self, route: str) -> tuple[Step, ...]:
        try:
            return self._steps[route]
        except KeyError:
            raise UnknownRouteError(route, list(self._settings.routes)) from None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        progress = _Progress(started=self._clock())
        failures: list[StepFailure] = []
        for step in self.steps(request.route):
            attempt = self._streamed if request.stream else self._buffered
            try:
                async with aclosing(attempt(step, request, progress)) as events:
                    async for event in events:
                        yield event
            except RequestRejected:
                raise
            except StepError as exc:
                failures.append(StepFailure(step.alias, step.node_name, str(exc), exc.kind))
                progress = _Progress(started=progress.started)
                continue
            yield self._done(step, progress, failures)
            return
        raise AllStepsFailed(request.route, failures)

    async def _streamed(
        self, step: Step, request: ChatRequest, progress: _Progress
    ) -> AsyncGenerator[TextDelta, None]:
        async with aclosing(self._caller.stream(step, request)) as events:
            iterator = aiter(events)
            first = await anext(iterator, None)  # a StepError here falls through
            if first is None:
                return
            text = self._take(first, progress)
            if text is not None:
                yield TextDelta(text)
            try:
                async for event in iterator:
                    text = self._take(event, progress)
                    if text is not None:
                        yield TextDelta(text)
            except StepError as exc:
                progress.interrupted = str(exc)
                marker = INTERRUPTED_MARKER.format(reason=exc)
                progress.parts.append(marker)
                yield TextDelta(marker)

    async def _buffered(
        self, step: Step, request: ChatRequest, progress: _Progress
    ) -> AsyncGenerator[TextDelta, None]:
        try:
            async with asyncio.timeout(step.timeouts.total):
                async with aclosing(self._caller.stream(step, request)) as events:
                    async for event in events:
                        self._take(event, progress)
        except TimeoutError:
            raise NodeTimeout(f"no complete reply within {step.timeouts.total:g}s") from None
        if progress.parts:
            yield TextDelta("".join(progress.parts))

    def _take(self, event: StepEvent, progress: _Progress) -> str | None:
        """Record an event; returns the text it carries for the caller, if any."""
        if isinstance(event, Usage):
            progress.usage = event
            return None
        if progress.ttft is None:
            progress.ttft = self._clock() - progress.started
        progress.parts.append(event.text)
        return event.text

    def _done(self, step: Step, progress: _Progress, failures: list[StepFailure]) -> ReplyDone:
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
        )


def _steps_of(settings: InferenceSettings, route: str) -> tuple[Step, ...]:
    return tuple(
        Step(
            route=route,
            depth=depth,
            alias=alias,
            node_name=settings.models[alias].node,
            node=settings.node_of(alias),
            model=settings.models[alias],
            timeouts=settings.step_timeouts(route, alias),
        )
        for depth, alias in enumerate(settings.routes[route])
    )
