"""What a reply stream yields: text as it arrives, Skip's plan and sub-task progress, and
one final :class:`ReplyFinished` record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from inference.types import ReplyDone, TextDelta

__all__ = [
    "Plan",
    "PlanReady",
    "PlanSource",
    "PlanStep",
    "ReplyEvent",
    "ReplyFinished",
    "ReplyStatus",
    "Started",
    "StepDelta",
    "StepFinished",
    "StepResult",
    "StepStarted",
    "StepStatus",
    "TextDelta",
    "ToolEvent",
    "ToolFinished",
    "ToolStarted",
    "Waiting",
]

ReplyStatus = Literal["complete", "cancelled", "halted", "refused", "failed"]
StepStatus = Literal["complete", "halted", "refused", "failed", "cancelled"]
PlanSource = Literal["model", "model_retry", "keywords"]


class PlanStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str = Field(min_length=1)
    task: str = Field(min_length=1, max_length=2000)


class Plan(BaseModel):
    """Skip's delegation: which specialists, which sub-tasks, in which order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: tuple[PlanStep, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class PlanReady:
    plan: Plan
    source: PlanSource
    round: int  # 1-based
    errors: tuple[str, ...] = ()  # why model output was rejected, when it was


@dataclass(frozen=True, slots=True)
class StepStarted:
    index: int  # 0-based across the whole turn
    agent: str
    task: str


@dataclass(frozen=True, slots=True)
class StepDelta:
    index: int
    agent: str
    text: str


@dataclass(frozen=True, slots=True)
class StepResult:
    index: int
    agent: str
    task: str
    status: StepStatus
    text: str
    reason: str | None = None
    done: ReplyDone | None = None


@dataclass(frozen=True, slots=True)
class StepFinished:
    result: StepResult


@dataclass(frozen=True, slots=True)
class Started:
    """The turn's work began (it may have queued behind the conversation's previous turn,
    or for a start-up slot during a burst)."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """The reply is queued behind a halt (accepted before it) until resume."""

    reason: str


@dataclass(frozen=True, slots=True)
class ReplyFinished:
    """The final record of one turn (always the last event)."""

    conversation_id: str
    agent: str
    turn_id: str
    status: ReplyStatus
    text: str
    reason: str | None = None
    done: ReplyDone | None = None  # the call that produced ``text``
    calls: tuple[ReplyDone, ...] = ()  # every model call of the turn, in order
    plans: tuple[PlanReady, ...] = ()
    steps: tuple[StepResult, ...] = field(default=())

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)


@dataclass(frozen=True, slots=True)
class ToolStarted:
    """An agent's tool call began (see :mod:`team.toolloop`)."""

    agent: str
    server: str
    tool: str
    target: str = ""  # e.g. the host of a fetched URL

    def line(self) -> str:
        """One compact status line: ``🔧 fetch · docs.example.org …``."""
        target = f" · {self.target}" if self.target else ""
        return f"🔧 {self.server}{target} …"


@dataclass(frozen=True, slots=True)
class ToolFinished:
    """An agent's tool call ended, with its outcome."""

    agent: str
    server: str
    tool: str
    target: str
    outcome: str  # ok, error, denied, halted, unknown_tool, bad_arguments, …
    call_id: str = ""


ToolEvent = ToolStarted | ToolFinished


ReplyEvent = (
    Started | TextDelta | PlanReady | StepStarted | StepDelta | StepFinished | Waiting
    | ToolStarted | ToolFinished | ReplyFinished
)
