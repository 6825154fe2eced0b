"""Step layer: one ledger record per attempt, with tokens, cost and timings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace

from inference.errors import StepError
from inference.pricing import Pricing
from inference.records import LedgerRecord, RecordSink
from inference.step import Chunk, Step, StepCaller, StepEvent, Usage
from inference.types import ChatRequest, ModelToolCall

__all__ = ["Metered"]


@dataclass
class _Attempt:
    started: float
    ttft: float | None = None
    chars: int = 0
    usage: Usage | None = None
    outcome: str = "cancelled"
    error: str | None = "the caller stopped reading"


class Metered:
    def __init__(
        self,
        inner: StepCaller,
        sink: RecordSink,
        pricing: Pricing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self._sink = sink
        self._pricing = pricing
        self._clock = clock

    async def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        attempt = _Attempt(started=self._clock())
        try:
            async with aclosing(self._inner.stream(step, request)) as events:
                async for event in events:
                    yield self._observe(step, attempt, event)
            attempt.outcome, attempt.error = "ok", None
        except StepError as exc:
            attempt.outcome, attempt.error = exc.kind, str(exc)
            raise
        except asyncio.CancelledError as exc:
            if exc.args:  # why it was cancelled, e.g. it lost a hedge (inference.hedge)
                attempt.error = str(exc.args[0])
            raise
        finally:
            self._sink.record(self._record(step, request, attempt))

    def _observe(self, step: Step, attempt: _Attempt, event: StepEvent) -> StepEvent:
        if isinstance(event, Chunk | ModelToolCall):
            if attempt.ttft is None:
                attempt.ttft = self._clock() - attempt.started
            attempt.chars += len(event.text if isinstance(event, Chunk) else event.arguments)
            return event
        cost = self._pricing.cost(step.alias, event.prompt_tokens, event.completion_tokens)
        attempt.usage = replace(
            event, cost_usd=cost.usd, cloud_equivalent_usd=cost.cloud_equivalent_usd
        )
        return attempt.usage

    def _record(self, step: Step, request: ChatRequest, attempt: _Attempt) -> LedgerRecord:
        usage = attempt.usage or self._estimate(step, request, attempt)
        return LedgerRecord(
            ts=attempt.started,
            agent=request.agent,
            key_name=request.key_name,
            route=step.route,
            node=step.node_name,
            model=step.alias,
            upstream_model=step.upstream_model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            cloud_equivalent_usd=usage.cloud_equivalent_usd,
            latency_s=self._clock() - attempt.started,
            ttft_s=attempt.ttft,
            fallback_depth=step.depth,
            outcome=attempt.outcome,
            error=attempt.error,
            cloud=step.node.is_cloud,
            tokens_estimated=usage.estimated,
        )

    def _estimate(self, step: Step, request: ChatRequest, attempt: _Attempt) -> Usage:
        """A cut-off attempt still used tokens when text had started to flow."""
        if attempt.chars == 0:
            return Usage(0, 0)
        prompt = max(1, sum(len(m.content) for m in request.messages) // 4)
        completion = max(1, attempt.chars // 4)
        cost = self._pricing.cost(step.alias, prompt, completion)
        return Usage(prompt, completion, estimated=True, cost_usd=cost.usd,
                     cloud_equivalent_usd=cost.cloud_equivalent_usd)
