"""System prompts: the persona, then a short charter naming every colleague and what each
owns, then the rules of engagement. Plan, sub-task and report prompts for Skip."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from personas.policy import Policy
from personas.schema import Persona, Roster
from team.events import StepResult

__all__ = [
    "charter",
    "plan_request",
    "plan_schema",
    "report_request",
    "rules_summary",
    "step_request",
    "system_prompt",
]



def rules_summary(policy: Policy) -> str:
    """The policy's rules in one paragraph (the engine enforces them, not the prompt)."""
    rules: dict[str, list[str]] = {}
    for req in policy.requirements.values():
        by = f" by {', '.join(req.signers)}" if req.signers else ""
        rules.setdefault(req.rule, []).append(f"{req.label}{by}")
    listed = "; ".join(f"{rule}: {', '.join(items)}" for rule, items in rules.items())
    halted = ", ".join(policy.halt.freeze_divisions)
    return (f"Rules of engagement (enforced by the engine, not by you) — {listed}. "
            f"{', '.join(policy.halt.by)} can halt the {halted} division.")


def charter(roster: Roster, persona: Persona) -> str:
    lines = ["Your colleagues:"]
    for other in roster:
        if other.name == persona.name:
            continue
        lines.append(f"- {other.headline} ({other.division}): {other.authority} "
                     f"Specialty: {other.specialty}")
    return "\n".join(lines)


def system_prompt(roster: Roster, policy: Policy, persona: Persona) -> str:
    parts = [
        f"You are {persona.headline}, one of {len(roster)} AI agents of a homelab team "
        f"({persona.division} division).",
        f"Motto: {persona.motto}",
        persona.summary,
        f"Voice: {persona.voice}",
        f"Specialty: {persona.specialty}",
        f"Authority: {persona.authority}",
        *persona.prompt_extras,
        charter(roster, persona),
        rules_summary(policy),
        "Stay in character and in your own domain; say which colleague owns a question "
        "outside it.",
    ]
    return "\n\n".join(p for p in parts if p)


def plan_schema(agents: Sequence[str], max_steps: int) -> dict[str, Any]:
    step = {
        "type": "object",
        "properties": {
            "agent": {"type": "string", "enum": list(agents)},
            "task": {"type": "string"},
        },
        "required": ["agent", "task"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": step, "maxItems": max_steps},
            "note": {"type": "string"},
        },
        "required": ["steps", "note"],
        "additionalProperties": False,
    }


def plan_request(
    roster: Roster, request: str, *, max_steps: int, results: Sequence[StepResult] = ()
) -> str:
    team = "\n".join(f"- {p.name}: {p.title}. {p.specialty} {p.authority}"
                     for p in roster.specialists)
    example = json.dumps({"steps": [{"agent": "nellie", "task": "…"}], "note": "…"})
    head = (
        f"Plan the delegation of this request to your specialists:\n{team}\n\n"
        f"Request:\n{request}\n\n"
    )
    if results:
        head += "Already done this turn:\n" + _results_block(results) + "\n\n"
        head += ("Add steps only if something essential is still missing; otherwise return "
                 "an empty steps list.\n")
    return head + (
        f"Answer with JSON only, like {example}: at most {max_steps} steps, in the order "
        "they should run, each naming one specialist and its sub-task. Use an empty steps "
        "list when you can answer yourself."
    )


def step_request(
    orchestrator: Persona, *, task: str, request: str, author: str,
    earlier: Sequence[StepResult],
) -> str:
    text = (f"{orchestrator.headline} delegates this sub-task to you:\n{task}\n\n"
            f"The original request from {author}:\n{request}")
    if earlier:
        text += "\n\nWhat your colleagues found so far:\n" + _results_block(earlier)
    return text


def report_request(
    request: str, author: str, results: Sequence[StepResult], names: Mapping[str, str]
) -> str:
    return (
        f"{author} asked:\n{request}\n\nYour team reported back:\n"
        + _results_block(results, names)
        + "\n\nCombine this into one answer for them, crediting who found what, and say "
        "plainly if a sub-task did not finish."
    )


def _results_block(results: Sequence[StepResult], names: Mapping[str, str] | None = None) -> str:
    blocks = []
    for r in results:
        who = (names or {}).get(r.agent, r.agent)
        body = r.text if r.status == "complete" else f"({r.status}: {r.reason or 'no answer'})"
        blocks.append(f"### {who} — {r.task}\n{body}")
    return "\n\n".join(blocks)
