"""Tasks, their artifacts and sign-offs, and the state machine the engine owns.

::

    new ──▶ design ──▶ implementation ──▶ review ──▶ shipped
     │         ▲             │  ▲            │
     │         └─────────────┘  └────────────┘  (rework)
     └──────────▶ implementation        any open state ──▶ cancelled

Entering a state may be gated by the policy (``personas/rules.yaml``); see
:mod:`team.rules`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "OPEN_STATES",
    "STATES",
    "TRANSITIONS",
    "Artifact",
    "ClaimCheck",
    "Decision",
    "SignOff",
    "Task",
    "TaskFile",
    "TaskState",
    "content_hash",
]

TaskState = Literal["new", "design", "implementation", "review", "shipped", "cancelled"]
Decision = Literal["approve", "changes_requested", "deny"]
STATES: tuple[TaskState, ...] = (
    "new", "design", "implementation", "review", "shipped", "cancelled",
)
TRANSITIONS: Mapping[TaskState, frozenset[TaskState]] = {
    "new": frozenset({"design", "implementation", "cancelled"}),
    "design": frozenset({"implementation", "cancelled"}),
    "implementation": frozenset({"design", "review", "cancelled"}),
    "review": frozenset({"implementation", "shipped", "cancelled"}),
    "shipped": frozenset(),
    "cancelled": frozenset(),
}
OPEN_STATES: frozenset[TaskState] = frozenset(s for s in STATES if TRANSITIONS[s])


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    kind: str
    title: str
    owner: str
    areas: tuple[str, ...]
    state: TaskState
    created_by: str
    created_at: float
    updated_at: float
    conversation_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "title": self.title, "owner": self.owner,
            "areas": list(self.areas), "state": self.state, "created_by": self.created_by,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "conversation_id": self.conversation_id,
        }


@dataclass(frozen=True, slots=True)
class Artifact:
    task_id: int
    kind: str
    version: int
    content: str
    sha256: str
    created_by: str
    created_at: float

    def to_json(self, *, with_content: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind, "version": self.version, "sha256": self.sha256,
            "created_by": self.created_by, "created_at": self.created_at,
        }
        if with_content:
            data["content"] = self.content
        return data


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """One claim a reviewer checked: ``verdict`` is correct, incorrect or unverified."""

    claim: str
    verdict: Literal["correct", "incorrect", "unverified"]
    note: str = ""


@dataclass(frozen=True, slots=True)
class SignOff:
    task_id: int
    seq: int
    signer: str
    topic: str
    decision: Decision
    artifact_kind: str | None
    artifact_sha256: str | None
    notes: str
    claims: tuple[ClaimCheck, ...]
    actor: str
    ts: float

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "signer": self.signer, "topic": self.topic,
            "decision": self.decision, "artifact_kind": self.artifact_kind,
            "artifact_sha256": self.artifact_sha256, "notes": self.notes,
            "claims": [{"claim": c.claim, "verdict": c.verdict, "note": c.note}
                       for c in self.claims],
            "actor": self.actor, "ts": self.ts,
        }


@dataclass(frozen=True, slots=True)
class TaskFile:
    """Everything the rules look at: the task, its current artifacts, every sign-off."""

    task: Task
    artifacts: Mapping[str, Artifact]  # current (latest) version per kind
    signoffs: tuple[SignOff, ...]  # oldest first

    def latest(self, signer: str, topic: str) -> SignOff | None:
        found = [s for s in self.signoffs if s.signer == signer and s.topic == topic]
        return found[-1] if found else None

    def rounds(self, topic: str) -> int:
        return sum(1 for s in self.signoffs
                   if s.topic == topic and s.decision == "changes_requested")
