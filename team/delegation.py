"""Skip's turn: plan (JSON against a schema, validated, retried once, else keywords), run
each sub-task through its specialist's route in order, and report back the combined result.

Bounded by construction: at most ``plan_max_rounds`` planning rounds and
``plan_max_steps`` sub-tasks in the whole turn; specialists never delegate; a later round
whose plan cannot be parsed simply ends the planning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from inference.types import Message
from personas.schema import Persona, Roster
from team.calls import CallCancelled
from team.conversations import ConversationLog, StoredMessage
from team.events import (
    Plan,
    PlanReady,
    PlanSource,
    PlanStep,
    StepDelta,
    StepFinished,
    StepResult,
    StepStarted,
    StepStatus,
    TextDelta,
)
from team.prompts import plan_request, plan_schema, report_request, step_request
from team.structured import ask_structured, json_schema_format
from team.turn import CallOutcome, Turn

__all__ = ["Delegation", "keyword_plan", "parse_plan"]

_WORD = re.compile(r"[a-z0-9][a-z0-9+#.-]*")


def parse_plan(data: Any, specialists: Sequence[str], max_steps: int) -> Plan:
    """A valid plan from decoded JSON, or ``ValueError`` saying what is wrong."""
    plan = Plan.model_validate(data)
    steps = tuple(PlanStep(agent=s.agent.strip().lower(), task=s.task.strip())
                  for s in plan.steps)
    unknown = sorted({s.agent for s in steps if s.agent not in specialists})
    if unknown:
        raise ValueError(f"not a specialist: {', '.join(unknown)} "
                         f"(choose from {', '.join(specialists)})")
    if len(steps) > max_steps:
        raise ValueError(f"{len(steps)} steps; at most {max_steps} are allowed")
    if any(not s.task for s in steps):
        raise ValueError("every step needs a task")
    return Plan(steps=steps, note=plan.note)


def keyword_plan(request: str, roster: Roster, max_steps: int) -> Plan:
    """The deterministic fallback: specialists whose keywords the request mentions, best
    match first (ties in roster order); none matched means Skip answers himself."""
    text = request.lower()
    words = set(_WORD.findall(text))
    scored = []
    for rank, persona in enumerate(roster.specialists):
        hits = sum(1 for k in persona.keywords if (k in text if " " in k else k in words))
        if hits:
            scored.append((-hits, rank, persona))
    chosen = [p for _, _, p in sorted(scored, key=lambda t: (t[0], t[1]))[:max_steps]]
    return Plan(
        steps=tuple(PlanStep(agent=p.name, task=f"Cover the {p.specialty.rstrip('.')} side "
                             f"of the request.") for p in chosen),
        note="assigned by specialty keywords (the plan from the model was not usable)",
    )


class Delegation:
    def __init__(self, turn: Turn, log: ConversationLog) -> None:
        self._turn = turn
        self._log = log
        services = turn.services
        self._roster = services.roster
        self._settings = services.settings
        self._skip = services.roster.orchestrator
        self.plans: list[PlanReady] = []
        self.results: list[StepResult] = []

    async def run(self) -> None:
        """Plan and run sub-tasks (events go to the turn's handle)."""
        budget = self._settings.plan_max_steps
        for round_no in range(1, self._settings.plan_max_rounds + 1):
            if budget <= 0 or self._turn.stopped.is_set():
                return
            ready = await self._plan(round_no, budget)
            if ready is None:
                return
            self.plans.append(ready)
            self._turn.handle.emit(ready)
            for step in ready.plan.steps:
                if self._turn.stopped.is_set():
                    return
                await self._run_step(step)
            budget -= len(ready.plan.steps)
            if not ready.plan.steps or ready.source == "keywords":
                return

    async def _plan(self, round_no: int, budget: int) -> PlanReady | None:
        names = [p.name for p in self._roster.specialists]
        ask = Message("user", plan_request(self._roster, self._turn.request, max_steps=budget,
                                           results=self.results))
        request = self._turn.request_for(
            self._skip, self._turn.messages_for(self._skip, (), [ask]),
            stream=False, temperature=0.0,
            response_format=json_schema_format("delegation_plan", plan_schema(names, budget)),
        )
        try:
            got = await ask_structured(
                lambda r: self._turn.complete(self._skip, r), request,
                lambda data: parse_plan(data, names, budget),
            )
        except CallCancelled:
            return None
        if got.value is not None:
            source: PlanSource = "model" if got.attempts == 1 else "model_retry"
            return PlanReady(got.value, source, round_no, got.errors)
        if round_no > 1:
            return None
        fallback = keyword_plan(self._turn.request, self._roster, budget)
        return PlanReady(fallback, "keywords", round_no, got.errors)

    async def _run_step(self, step: PlanStep) -> None:
        index = len(self.results)
        persona = self._roster.get(step.agent)
        handle = self._turn.handle
        handle.emit(StepStarted(index, persona.name, step.task))
        refused = await self._turn.admit(persona)
        if refused is not None:
            status: StepStatus = "cancelled" if self._turn.stopped.is_set() else "refused"
            outcome = CallOutcome("", None, status, refused)
        else:
            outcome = await self._call(index, persona, step)
        result = StepResult(index, persona.name, step.task, outcome.status, outcome.text,
                            outcome.reason, outcome.done)
        self.results.append(result)
        if outcome.status == "complete":
            await self._log.append(self._turn.conversation_id, role="agent", agent=persona.name,
                                   author=None, content=outcome.text,
                                   turn_id=handle.turn_id)
        handle.emit(StepFinished(result))

    async def _call(self, index: int, persona: Persona, step: PlanStep) -> CallOutcome:
        prompt = step_request(self._skip, task=step.task, request=self._turn.request,
                              author=self._turn.author, earlier=self.results)
        messages = self._turn.messages_for(persona, (), [Message("user", prompt)])
        options: dict[str, Any] = {}
        if self._settings.step_max_tokens is not None:
            options["max_tokens"] = self._settings.step_max_tokens
        request = self._turn.request_for(persona, messages, **options)
        return await self._turn.stream(
            persona, request,
            lambda text: self._turn.handle.emit(StepDelta(index, persona.name, text)),
        )

    async def report(self, history: Sequence[StoredMessage]) -> CallOutcome:
        """Skip's combined answer, streamed; a plain summary when his route fails."""
        names = {p.name: p.headline for p in self._roster}
        prompt = report_request(self._turn.request, self._turn.author, self.results, names)
        messages = self._turn.messages_for(self._skip, history, [Message("user", prompt)])
        emit = self._turn.handle.emit
        outcome = await self._turn.stream(self._skip, self._turn.request_for(self._skip, messages),
                                          lambda text: emit(TextDelta(text)))
        if outcome.status != "failed" or outcome.text:
            return outcome
        text = self._plain_summary(names)
        emit(TextDelta(text))
        return CallOutcome(text, None, "complete", f"report written without a model: "
                                                    f"{outcome.reason}")

    def _plain_summary(self, names: dict[str, str]) -> str:
        lines = ["Here's what the team came back with:"]
        for r in self.results:
            body = r.text.strip() if r.status == "complete" else f"({r.status}: {r.reason})"
            lines.append(f"\n**{names.get(r.agent, r.agent)}** — {r.task}\n{body}")
        return "\n".join(lines)
