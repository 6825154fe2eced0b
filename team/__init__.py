"""The agent team as a Discord-free engine: personas, conversations, Skip's delegation and
the rules of engagement (tasks, gates, halt, audit). See :class:`team.engine.TeamEngine`."""

from team.actors import Actor
from team.board import TaskBoard
from team.chief import ChiefCheck
from team.config import TeamSettings
from team.engine import TeamEngine
from team.errors import Refused, TeamError, UnknownAgent, UnknownTask
from team.events import (
    PlanReady,
    ReplyEvent,
    ReplyFinished,
    Started,
    StepDelta,
    StepFinished,
    StepStarted,
    TextDelta,
    Waiting,
)
from team.feed import TaskChange, TaskFeed
from team.replies import ReplyHandle

__all__ = [
    "Actor",
    "ChiefCheck",
    "PlanReady",
    "Refused",
    "ReplyEvent",
    "ReplyFinished",
    "ReplyHandle",
    "Started",
    "StepDelta",
    "StepFinished",
    "StepStarted",
    "TaskBoard",
    "TaskChange",
    "TaskFeed",
    "TeamEngine",
    "TeamError",
    "TeamSettings",
    "TextDelta",
    "UnknownAgent",
    "UnknownTask",
    "Waiting",
]
