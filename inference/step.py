"""One step of a route (a model on a node) and the protocol every step layer implements.

A route is tried step by step. Each step call goes through a stack of ``StepCaller``
layers, outermost first, e.g. ``HealthGate → Metered → Deadlines → LiteLLMCaller``.
A layer takes the next one as ``inner`` and may gate, time, meter or translate the call.
An embedding step goes through ``EmbedCaller`` layers the same way (see
:mod:`inference.embed`): one call, one :class:`Embedded` answer.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from inference.config import InferenceSettings, ModelConfig, NodeConfig, StepTimeouts
from inference.types import ChatRequest, EmbedRequest, ModelToolCall

__all__ = ["Chunk", "EmbedCaller", "Embedded", "Step", "StepCaller", "StepEvent", "Usage",
           "step_of", "steps_of"]


@dataclass(frozen=True, slots=True)
class Step:
    route: str
    depth: int
    alias: str
    node_name: str
    node: NodeConfig
    model: ModelConfig
    timeouts: StepTimeouts

    @property
    def upstream_model(self) -> str:
        return self.model.model


def steps_of(settings: InferenceSettings, route: str) -> tuple[Step, ...]:
    """The steps of ``route``, in order, with their resolved timeouts."""
    return tuple(step_of(settings, route, alias, depth)
                 for depth, alias in enumerate(settings.routes[route]))


def step_of(settings: InferenceSettings, route: str, alias: str, depth: int) -> Step:
    """Model ``alias`` as step ``depth`` of ``route`` (a model alias is also a route of
    that one step: ``step_of(settings, alias, alias, 0)``)."""
    return Step(
        route=route,
        depth=depth,
        alias=alias,
        node_name=settings.models[alias].node,
        node=settings.node_of(alias),
        model=settings.models[alias],
        timeouts=settings.step_timeouts(route, alias),
    )


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of reply text."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """The last event of a successful step. Costs are filled in by the metering layer."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    estimated: bool = False
    cost_usd: float = 0.0
    cloud_equivalent_usd: float = 0.0


StepEvent = Chunk | ModelToolCall | Usage
"""A step's stream: text pieces and complete tool calls (each once it is whole), then
one :class:`Usage`."""


class StepCaller(Protocol):
    def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]: ...


@dataclass(frozen=True, slots=True)
class Embedded:
    """What one embedding step answered: a vector per input, in input order, and the
    tokens it read (``estimated`` when the node gave no count). Costs are filled in by
    the metering layer."""

    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int
    estimated: bool = False
    cost_usd: float = 0.0


class EmbedCaller(Protocol):
    async def embed(self, step: Step, request: EmbedRequest) -> Embedded: ...
