"""The task board: every request against the rules of engagement, judged and audited.

Each method runs one team transaction: it re-reads what it judges (another process may
have changed it), decides with :mod:`team.rules`, writes, and appends the audit entries
— so the log and the tables never disagree. Chief's check is consulted before the
transaction (it may be slow) and only when a gate needs it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from personas.policy import Policy
from personas.schema import Roster
from store import Database
from team.actors import Actor
from team.audit import AuditAction, append_entry
from team.chief import ChiefCheck, ChiefReport, chief_report
from team.errors import Refused, UnknownAgent
from team.halt import HaltState, HaltSwitch
from team.rules import RuleContext, Ruling, frozen_reason, judge
from team.store import team_transaction
from team.tasks import (
    OPEN_STATES,
    STATES,
    TRANSITIONS,
    Artifact,
    ClaimCheck,
    Decision,
    SignOff,
    Task,
    TaskFile,
    TaskState,
    content_hash,
)
from team.taskstore import (
    insert_artifact,
    insert_signoff,
    insert_task,
    load_file,
    load_task,
    select_tasks,
    update_state,
)

__all__ = ["TaskBoard"]


class TaskBoard:
    def __init__(
        self,
        db: Database,
        roster: Roster,
        policy: Policy,
        halt: HaltSwitch,
        chief: ChiefCheck,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.roster = roster
        self.policy = policy
        self.halt_switch = halt
        self.chief = chief
        self._clock = clock
        self.production = roster.in_divisions(policy.halt.freeze_divisions)

    # -- reading ----------------------------------------------------------------------------
    async def file(self, task_id: int) -> TaskFile:
        return await load_file(self.db, task_id)

    async def tasks(self, *, states: Sequence[str] = (), owner: str | None = None) -> list[Task]:
        return await select_tasks(self.db, states=states, owner=owner)

    @staticmethod
    def next_states(task: Task) -> frozenset[TaskState]:
        """Where the task may go next by the state machine (gates aside), bar cancelling."""
        return TRANSITIONS[task.state] - {"cancelled"}

    async def preview(self, task_id: int, target: TaskState) -> Ruling:
        """What a request to move to ``target`` would get now (nothing is recorded)."""
        file = await load_file(self.db, task_id)
        return judge(self.policy, file, target, await self._context(file.task.kind, target))

    # -- requests ---------------------------------------------------------------------------
    async def create(
        self, actor: Actor, *, kind: str, owner: str, title: str,
        areas: Sequence[str] | None = None, conversation_id: str | None = None,
    ) -> Task:
        if owner not in self.roster:
            team = ", ".join(self.roster.names)
            raise UnknownAgent(f"unknown agent {owner!r}; the team is {team}")
        if kind not in self.policy.kinds:
            raise Refused("new task", [f"unknown kind {kind!r}; the policy knows "
                                       f"{', '.join(self.policy.kinds)}"])
        if not title.strip():
            raise Refused("new task", ["a task needs a title"])
        chosen = tuple(areas) if areas is not None else self.policy.kinds[kind].areas
        async with team_transaction(self.db) as tx:
            ts, halt = self._clock(), await self.halt_switch.refresh(tx)
            frozen = frozen_reason(owner, self._ctx(halt))
            if frozen is None:
                task = await insert_task(tx, kind=kind, title=title.strip(), owner=owner,
                                         areas=chosen, created_by=actor.label, ts=ts,
                                         conversation_id=conversation_id)
                await self._audit(tx, actor, "task_created", task.id, ts,
                                  kind=kind, owner=owner, title=task.title, areas=list(chosen))
            else:
                await self._audit(tx, actor, "request", None, ts, reason=frozen, op="create",
                                  allowed=False, kind=kind, owner=owner, title=title)
        if frozen is not None:
            raise Refused("new task", [f"new work for {owner} is refused: {frozen}"])
        return task

    async def attach(self, actor: Actor, task_id: int, kind: str, content: str) -> Artifact:
        problems: list[str] = []
        if kind == "contract":
            problems.extend(_contract_problems(content))
        async with team_transaction(self.db) as tx:
            ts, halt = self._clock(), await self.halt_switch.refresh(tx)
            file = await load_file(tx, task_id)
            problems.extend(self._mutation_blocks(file.task, halt))
            if problems:
                await self._audit(tx, actor, "request", task_id, ts, reason="; ".join(problems),
                                  op="attach", allowed=False, artifact=kind)
            else:
                art = await insert_artifact(tx, task_id=task_id, kind=kind, content=content,
                                            sha256=content_hash(content),
                                            created_by=actor.label, ts=ts)
                await self._audit(tx, actor, "artifact", task_id, ts, artifact=kind,
                                  version=art.version, sha256=art.sha256)
        if problems:
            raise Refused(f"attaching {kind} to task {task_id}", problems)
        return art

    async def sign(
        self, actor: Actor, task_id: int, *, signer: str, topic: str,
        decision: Decision = "approve", notes: str = "", claims: Sequence[ClaimCheck] = (),
    ) -> SignOff:
        """Record ``signer``'s decision on ``topic``; Chief's approval is checked first."""
        chief_req = self._chief_requirement(topic)
        report = await chief_report(self.chief) if chief_req and decision == "approve" else None
        async with team_transaction(self.db) as tx:
            ts, halt = self._clock(), await self.halt_switch.refresh(tx)
            file = await load_file(tx, task_id)
            problems = self._sign_problems(actor, file, signer, topic, halt)
            veto = self._veto(report, halt) if chief_req and not problems else []
            if problems:
                await self._audit(tx, actor, "request", task_id, ts, reason="; ".join(problems),
                                  op="signoff", allowed=False, signer=signer, topic=topic)
            else:
                sign = await self._record_sign(
                    tx, actor, file, signer=signer, topic=topic,
                    decision="deny" if veto else decision, notes="; ".join(veto) or notes,
                    claims=claims, ts=ts,
                )
        if problems:
            raise Refused(f"{signer}'s sign-off on {topic}", problems)
        if veto:
            raise Refused(f"{signer}'s approval of {topic}", veto)
        return sign

    async def request(
        self, actor: Actor, task_id: int, target: TaskState, *, override: str | None = None
    ) -> Ruling:
        """Move a task; an admin's ``override`` (a reason) lifts unmet requirements."""
        if target not in STATES:
            raise Refused("transition", [f"unknown state {target!r}: {', '.join(STATES)}"])
        kind = (await load_task(self.db, task_id)).kind
        ctx = await self._context(kind, target)
        async with team_transaction(self.db) as tx:
            ts, halt = self._clock(), await self.halt_switch.refresh(tx)
            ctx = RuleContext(halt, self.production, ctx.chief)
            file = await load_file(tx, task_id)
            ruling = self._with_override(actor, judge(self.policy, file, target, ctx), override)
            await self._audit(tx, actor, "request", task_id, ts, reason=override or "",
                              op="transition", **ruling.to_json(), source=file.task.state)
            if ruling.overridden:
                await self._audit(tx, actor, "override", task_id, ts, reason=override or "",
                                  target=target,
                                  overridden=[m.describe() for m in ruling.overridden])
            if ruling.allowed:
                await update_state(tx, file.task, target, ts)
                await self._audit(tx, actor, "transition", task_id, ts,
                                  source=file.task.state, target=target)
        return ruling

    async def ship(self, actor: Actor, task_id: int, *, override: str | None = None) -> Ruling:
        return await self.request(actor, task_id, "shipped", override=override)

    # -- halt -------------------------------------------------------------------------------
    async def halt(self, actor: Actor, reason: str) -> HaltState:
        return await self._set_halt(actor, active=True, reason=reason)

    async def resume(self, actor: Actor, reason: str = "") -> HaltState:
        return await self._set_halt(actor, active=False, reason=reason)

    async def _set_halt(self, actor: Actor, *, active: bool, reason: str) -> HaltState:
        op: AuditAction = "halt" if active else "resume"
        allowed = actor.admin or (actor.kind == "agent" and actor.name in self.policy.halt.by)
        problems = [] if allowed else [
            f"only {', '.join(self.policy.halt.by)} or an admin may {op} ({actor.label} may not)"]
        if active and not reason.strip():
            problems.append("a halt needs a reason")
        async with team_transaction(self.db) as tx:
            ts, current = self._clock(), await self.halt_switch.refresh(tx)
            if problems:
                await self._audit(tx, actor, "request", None, ts, reason=reason, op=op,
                                  allowed=False, problems=problems)
            else:
                state = await self.halt_switch.store(tx, active=active, reason=reason.strip(),
                                                     actor=actor.label, ts=ts)
                await self._audit(tx, actor, op, None, ts, reason=reason.strip(),
                                  generation=state.generation, was_active=current.active)
        if problems:
            raise Refused(op, problems)
        self.halt_switch.apply(state)
        return state

    # -- helpers ----------------------------------------------------------------------------
    def _ctx(self, halt: HaltState, chief: ChiefReport | None = None) -> RuleContext:
        return RuleContext(halt, self.production, chief)

    async def _context(self, kind: str, target: str) -> RuleContext:
        types = {req.type for _, req in self.policy.gate(kind, target)}
        report = await chief_report(self.chief) if types & {"health", "chief"} else None
        return self._ctx(self.halt_switch.state, report)

    def _mutation_blocks(self, task: Task, halt: HaltState) -> list[str]:
        if task.state not in OPEN_STATES:
            return [f"task {task.id} is {task.state}"]
        frozen = frozen_reason(task.owner, self._ctx(halt))
        return [f"task {task.id} is frozen: {frozen}"] if frozen else []

    def _chief_requirement(self, topic: str) -> bool:
        return any(r.type == "chief" and r.topic == topic
                   for r in self.policy.requirements.values())

    def _veto(self, report: ChiefReport | None, halt: HaltState) -> list[str]:
        if report is None:
            return []
        return ([halt.describe()] if halt.active else []) + report.instability()

    def _sign_problems(self, actor: Actor, file: TaskFile, signer: str, topic: str,
                       halt: HaltState) -> list[str]:
        problems = self._mutation_blocks(file.task, halt)
        signers = self.policy.signers_of(topic)
        if signer not in signers:
            who = ", ".join(sorted(signers)) or "nobody"
            problems.append(f"{signer} does not sign off on {topic!r} (the policy asks {who})")
        if not (actor.admin or (actor.kind == "agent" and actor.name == signer)):
            problems.append(f"only {signer} or an admin may record {signer}'s sign-off")
        bound = self._bound_artifact(topic)
        if bound and bound not in file.artifacts:
            problems.append(f"attach the {bound} first: a sign-off binds to its content")
        if self.policy.returns_to(topic) and file.task.state != "review":
            problems.append(f"a {topic} review needs the task in review "
                            f"(it is {file.task.state})")
        return problems

    def _bound_artifact(self, topic: str) -> str | None:
        return next((r.artifact for r in self.policy.requirements.values()
                     if r.topic == topic and r.type == "signoffs" and r.artifact), None)

    async def _record_sign(
        self, tx: Database, actor: Actor, file: TaskFile, *, signer: str, topic: str,
        decision: Decision, notes: str, claims: Sequence[ClaimCheck], ts: float,
    ) -> SignOff:
        bound = self._bound_artifact(topic)
        artifact = file.artifacts.get(bound) if bound else None
        sign = await insert_signoff(tx, task_id=file.task.id, signer=signer, topic=topic,
                                    decision=decision, artifact=artifact, notes=notes,
                                    claims=claims, actor=actor.label, ts=ts)
        action: AuditAction = "veto" if decision == "deny" else "signoff"
        await self._audit(tx, actor, action, file.task.id, ts, reason=notes, signer=signer,
                          topic=topic, decision=decision,
                          artifact_sha256=sign.artifact_sha256, claims=len(claims))
        back = self.policy.returns_to(topic)
        if decision == "changes_requested" and back is not None:
            await update_state(tx, file.task, back, ts)
            await self._audit(tx, actor, "transition", file.task.id, ts,
                              reason=f"{signer} requested changes", source=file.task.state,
                              target=back)
        return sign

    def _with_override(self, actor: Actor, ruling: Ruling, override: str | None) -> Ruling:
        if ruling.allowed or override is None or ruling.blocks:
            return ruling
        if not actor.admin:
            block = f"only an admin may override ({actor.label} is not one)"
            return Ruling(False, ruling.target, (block,), ruling.missing)
        if not override.strip():
            return Ruling(False, ruling.target, ("an override needs a reason",), ruling.missing)
        return Ruling(True, ruling.target, (), (), ruling.missing)

    async def _audit(self, tx: Database, actor: Actor, action: AuditAction,
                     task_id: int | None, ts: float, *, reason: str = "", **detail: Any) -> None:
        await append_entry(tx, ts=ts, actor=actor.label, action=action,
                           policy_version=self.policy.version, task_id=task_id,
                           reason=reason, detail=detail)


def _contract_problems(content: str) -> list[str]:
    try:
        json.loads(content)
    except ValueError as exc:
        return [f"a contract is JSON (a JSON Schema or example payloads): {exc}"]
    return []
