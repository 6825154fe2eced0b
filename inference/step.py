"""One step of a route (a model on a node) and the protocol every step layer implements.

A route is tried step by step. Each step call goes through a stack of ``StepCaller``
layers, outermost first, e.g. ``HealthGate → Metered → Deadlines → LiteLLMCaller``.
A layer takes the next one as ``inner`` and may gate, time, meter or translate the call.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from inference.config import ModelConfig, NodeConfig, StepTimeouts
from inference.types import ChatRequest, ModelToolCall

__all__ = ["Chunk", "Step", "StepCaller", "StepEvent", "Usage"]


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
