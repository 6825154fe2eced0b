"""The rules of engagement, evaluated: deterministic, no I/O, no model in the loop.

:func:`judge` answers one transition request. Its :class:`Ruling` separates *blocks*
(not a legal transition, a frozen task, a halt: never overridable) from *missing*
requirements (the policy's gates: an admin may override them, with a reason).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from personas.policy import Policy, Requirement
from team.chief import ChiefReport
from team.halt import HaltState
from team.tasks import TRANSITIONS, TaskFile, TaskState

__all__ = ["Missing", "RuleContext", "Ruling", "frozen_reason", "judge", "missing_for"]


@dataclass(frozen=True, slots=True)
class Missing:
    """One unmet requirement: ``agent`` is whose sign-off is missing, when it is one."""

    requirement: str
    rule: str
    label: str
    agent: str | None = None
    detail: str = ""

    def describe(self) -> str:
        who = f"{self.agent}: " if self.agent else ""
        why = f" — {self.detail}" if self.detail else ""
        return f"{who}{self.label}{why} [{self.rule}]"

    def to_json(self) -> dict[str, Any]:
        return {"requirement": self.requirement, "rule": self.rule, "label": self.label,
                "agent": self.agent, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class RuleContext:
    halt: HaltState
    production: frozenset[str]  # agents whose tasks a halt freezes
    chief: ChiefReport | None = None  # needed only by health/chief requirements


@dataclass(frozen=True, slots=True)
class Ruling:
    allowed: bool
    target: str
    blocks: tuple[str, ...] = ()
    missing: tuple[Missing, ...] = ()
    overridden: tuple[Missing, ...] = field(default=())

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.blocks + tuple(m.describe() for m in self.missing)

    def to_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "target": self.target, "blocks": list(self.blocks),
                "missing": [m.to_json() for m in self.missing],
                "overridden": [m.to_json() for m in self.overridden]}


def frozen_reason(owner: str, ctx: RuleContext) -> str | None:
    """Why a task of ``owner`` cannot change now, or None."""
    if ctx.halt.active and owner in ctx.production:
        return ctx.halt.describe()
    return None


def judge(policy: Policy, file: TaskFile, target: TaskState, ctx: RuleContext) -> Ruling:
    state = file.task.state
    blocks: list[str] = []
    if target not in TRANSITIONS[state]:
        legal = ", ".join(sorted(TRANSITIONS[state])) or "none: the task is closed"
        blocks.append(f"cannot go from {state} to {target} (allowed: {legal})")
    frozen = frozen_reason(file.task.owner, ctx)
    if frozen:
        blocks.append(frozen)
    elif target == "shipped" and ctx.halt.active and policy.halt.block_shipping:
        blocks.append(f"nothing ships during a halt: {ctx.halt.describe()}")
    missing = missing_for(policy, file, target, ctx)
    return Ruling(not blocks and not missing, target, tuple(blocks), tuple(missing))


def missing_for(
    policy: Policy, file: TaskFile, target: str, ctx: RuleContext
) -> list[Missing]:
    """The gate's unmet requirements for entering ``target``, in policy order."""
    missing: list[Missing] = []
    for name, req in policy.gate(file.task.kind, target):
        if req.when_areas and not set(req.when_areas) <= set(file.task.areas):
            continue
        missing.extend(_CHECKS[req.type](name, req, file, ctx))
    return missing


def _signoffs(name: str, req: Requirement, file: TaskFile, ctx: RuleContext) -> list[Missing]:
    assert req.topic is not None
    current = file.artifacts.get(req.artifact) if req.artifact else None
    if req.artifact and current is None:
        return [Missing(name, req.rule, req.label, signer, f"no {req.artifact} attached yet")
                for signer in req.signers]
    out = []
    for signer in req.signers:
        last = file.latest(signer, req.topic)
        detail = ""
        if last is None:
            detail = "no sign-off yet"
        elif last.decision != "approve":
            detail = last.decision.replace("_", " ")
        elif current is not None and last.artifact_sha256 != current.sha256:
            detail = f"the {req.artifact} changed since the sign-off"
        if detail:
            out.append(Missing(name, req.rule, req.label, signer, detail))
    return out


def _rounds(name: str, req: Requirement, file: TaskFile, ctx: RuleContext) -> list[Missing]:
    assert req.topic is not None
    assert req.max_rounds is not None
    used = file.rounds(req.topic)
    if used < req.max_rounds:
        return []
    return [Missing(name, req.rule, req.label, None,
                    f"{used} rounds of changes requested (limit {req.max_rounds})")]


def _artifact(name: str, req: Requirement, file: TaskFile, ctx: RuleContext) -> list[Missing]:
    assert req.artifact is not None
    if req.artifact in file.artifacts:
        return []
    return [Missing(name, req.rule, req.label, None, f"no {req.artifact} attached")]


def _health(name: str, req: Requirement, file: TaskFile, ctx: RuleContext) -> list[Missing]:
    if ctx.chief is None:
        return [Missing(name, req.rule, req.label, None, "no Chief check available")]
    if ctx.chief.healthy:
        return []
    return [Missing(name, req.rule, req.label, None,
                    "failing: " + ", ".join(ctx.chief.failing_checks()))]


def _chief(name: str, req: Requirement, file: TaskFile, ctx: RuleContext) -> list[Missing]:
    assert req.topic is not None
    signer = req.signers[0]
    problems: list[str] = []
    last = file.latest(signer, req.topic)
    if last is None:
        problems.append("no approval yet")
    elif last.decision != "approve":
        problems.append(f"{last.decision.replace('_', ' ')}" + (
            f" ({last.notes})" if last.notes else ""))
    if ctx.halt.active:
        problems.append(ctx.halt.describe())
    if ctx.chief is None:
        problems.append("no Chief check available")
    else:
        problems.extend(ctx.chief.instability())
    return [Missing(name, req.rule, req.label, signer, "; ".join(problems))] if problems else []


_CHECKS: Final[Mapping[str, Callable[[str, Requirement, TaskFile, RuleContext], list[Missing]]]] = {
    "signoffs": _signoffs,
    "rounds": _rounds,
    "artifact": _artifact,
    "health": _health,
    "chief": _chief,
}
