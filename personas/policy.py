"""The schema of the rules-of-engagement policy file (``personas/rules.yaml``).

The seed's four rules are data here: named *requirements* of a few fixed types, and per
task *kind* the requirements that gate entry to a state. :mod:`team.rules` evaluates
them deterministically; every audit entry records the policy ``version`` it was judged
under.

Requirement types:

``signoffs``   every listed signer's latest decision on ``topic`` is *approve* (bound to the
               content hash of the task's current ``artifact`` when one is named); a
               *changes requested* decision sends a task in review back to ``returns_to``.
``rounds``     fewer than ``max_rounds`` *changes requested* decisions on ``topic``.
``artifact``   an artifact of kind ``artifact`` is attached.
``health``     the Chief check's health checks pass.
``chief``      the signer approved ``topic``, no alert is open, no threshold is breached
               and no halt is in force (the deployment gate).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from personas.schema import NAME_PATTERN

__all__ = [
    "GATED_STATES",
    "GatedState",
    "HaltPolicy",
    "KindPolicy",
    "Policy",
    "Requirement",
    "RequirementType",
]

RequirementType = Literal["signoffs", "rounds", "artifact", "health", "chief"]
GatedState = Literal["design", "implementation", "review", "shipped"]
GATED_STATES: tuple[GatedState, ...] = ("design", "implementation", "review", "shipped")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Requirement(_Frozen):
    rule: str = Field(min_length=1, description="the seed rule it implements, for messages")
    type: RequirementType
    label: str = Field(min_length=1, description="how a refusal names it")
    signers: tuple[str, ...] = ()
    topic: str | None = Field(default=None, pattern=NAME_PATTERN)
    artifact: str | None = Field(default=None, pattern=NAME_PATTERN)
    when_areas: tuple[str, ...] = Field(
        default=(), description="applies only to tasks whose areas include all of these"
    )
    returns_to: GatedState | None = None
    max_rounds: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _fields_for_type(self) -> Requirement:
        needs: dict[RequirementType, tuple[str, ...]] = {
            "signoffs": ("signers", "topic"),
            "rounds": ("topic", "max_rounds"),
            "artifact": ("artifact",),
            "health": (),
            "chief": ("signers", "topic"),
        }
        missing = [f for f in needs[self.type] if not getattr(self, f)]
        if missing:
            raise ValueError(f"a {self.type!r} requirement needs {', '.join(missing)}")
        if self.type == "chief" and len(self.signers) != 1:
            raise ValueError("a 'chief' requirement names exactly one signer")
        return self


class KindPolicy(_Frozen):
    description: str = ""
    areas: tuple[str, ...] = Field(default=(), description="default areas of a new task")
    gates: dict[GatedState, tuple[str, ...]] = Field(default_factory=dict)


class HaltPolicy(_Frozen):
    by: tuple[str, ...] = Field(min_length=1, description="agents who may halt and resume")
    freeze_divisions: tuple[str, ...] = Field(min_length=1)
    block_shipping: bool = Field(default=True, description="no task of any division ships")


class Policy(_Frozen):
    version: int = Field(ge=1)
    requirements: dict[str, Requirement]
    kinds: dict[str, KindPolicy] = Field(min_length=1)
    halt: HaltPolicy

    @model_validator(mode="after")
    def _known_requirements(self) -> Policy:
        problems = [
            f"kinds.{kind}.gates.{state}: unknown requirement {name!r}"
            for kind, spec in self.kinds.items()
            for state, names in spec.gates.items()
            for name in names
            if name not in self.requirements
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def gate(self, kind: str, state: str) -> tuple[tuple[str, Requirement], ...]:
        spec = self.kinds.get(kind)
        names = next((v for k, v in spec.gates.items() if k == state), ()) if spec else ()
        return tuple((name, self.requirements[name]) for name in names)

    def signers_of(self, topic: str) -> frozenset[str]:
        """Every agent the policy asks to sign off on ``topic``."""
        return frozenset(
            signer
            for req in self.requirements.values()
            if req.topic == topic and req.type in ("signoffs", "chief")
            for signer in req.signers
        )

    def returns_to(self, topic: str) -> GatedState | None:
        return next(
            (r.returns_to for r in self.requirements.values()
             if r.topic == topic and r.returns_to is not None),
            None,
        )

    def agents_named(self) -> frozenset[str]:
        named = {s for r in self.requirements.values() for s in r.signers}
        return frozenset(named | set(self.halt.by))
