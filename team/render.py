"""Plain-text and JSON views of the team, its tasks and its audit log (CLI and bot)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from personas.schema import Persona, Roster
from team.audit import AuditEntry, ChainReport
from team.rules import Ruling
from team.tasks import Task, TaskFile

__all__ = [
    "audit_text",
    "chain_text",
    "roster_chart",
    "roster_json",
    "ruling_text",
    "task_detail",
    "task_table",
]


def roster_json(roster: Roster) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "display_name": p.display_name, "title": p.title,
         "division": p.division, "route": p.route, "authority": p.authority,
         "motto": p.motto, "specialty": p.specialty, "channel": p.channel,
         "orchestrator": p.orchestrator}
        for p in roster
    ]


def _line(p: Persona, indent: str) -> str:
    route = f"{p.route} ({p.route_note})" if p.route_note else p.route
    return f"{p.headline} · route {route}\n{indent}    “{p.motto}” — {p.authority}"


def roster_chart(roster: Roster, admins: Sequence[str]) -> str:
    """The seed's division chart: the architect, the orchestrator, then each division."""
    lead = roster.orchestrator
    lines = [f"The Architect (admin: {', '.join(admins) or 'nobody'})",
             f"├── {_line(lead, '│')}"]
    divisions = [(d, ps) for d, ps in roster.by_division().items()
                 if d != lead.division or len(ps) > 1]
    for i, (division, members) in enumerate(divisions):
        last = i == len(divisions) - 1
        lines.append(f"{'└' if last else '├'}── {division.upper()} DIVISION")
        shown = [p for p in members if p is not lead]
        for j, persona in enumerate(shown):
            end = j == len(shown) - 1
            outer = " " if last else "│"
            indent = f"{outer}   {' ' if end else '│'}"
            lines.append(f"{outer}   {'└' if end else '├'}── {_line(persona, indent)}")
    return "\n".join(lines)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def task_table(tasks: Sequence[Task]) -> str:
    if not tasks:
        return "no tasks"
    rows = [[str(t.id), t.kind, t.owner, t.state, t.title] for t in tasks]
    headers = ["ID", "KIND", "OWNER", "STATE", "TITLE"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:-1])]
    def fmt(cells: list[str]) -> str:
        return "  ".join([*(c.ljust(w) for c, w in zip(cells, widths, strict=False)), cells[-1]])
    return "\n".join([fmt(headers), *(fmt(r) for r in rows)])


def task_detail(file: TaskFile, previews: Sequence[Ruling]) -> str:
    t = file.task
    lines = [f"task {t.id}: {t.title}",
             f"  kind {t.kind} · owner {t.owner} · state {t.state} · areas "
             f"{', '.join(t.areas) or '-'} · by {t.created_by} at {_when(t.created_at)}"]
    for art in file.artifacts.values():
        lines.append(f"  artifact {art.kind} v{art.version} sha256 {art.sha256[:12]} "
                     f"by {art.created_by}")
    for s in file.signoffs:
        note = f" — {s.notes}" if s.notes else ""
        lines.append(f"  {s.signer} {s.decision} {s.topic}{note} (by {s.actor})")
        lines.extend(f"      claim [{c.verdict}] {c.claim}" for c in s.claims)
    for ruling in previews:
        lines.append(f"  → {ruling.target}: " + ("allowed" if ruling.allowed else "refused"))
        lines.extend(f"      - {reason}" for reason in ruling.reasons)
    return "\n".join(lines)


def ruling_text(task_id: int, ruling: Ruling) -> str:
    if ruling.allowed:
        extra = ""
        if ruling.overridden:
            extra = " (admin override of: " + "; ".join(
                m.describe() for m in ruling.overridden) + ")"
        return f"task {task_id} → {ruling.target}{extra}"
    return "\n".join([f"task {task_id} cannot go to {ruling.target}:",
                      *(f"  - {reason}" for reason in ruling.reasons)])


def audit_text(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return "the audit log is empty"
    lines = []
    for e in entries:
        task = f" task {e.task_id}" if e.task_id is not None else ""
        reason = f" — {e.reason}" if e.reason else ""
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items() if v not in ([], None, ""))
        lines.append(f"#{e.seq} {_when(e.ts)} {e.actor} {e.action}{task}{reason}"
                     f" [policy v{e.policy_version}] {detail}")
    return "\n".join(lines)


def chain_text(report: ChainReport) -> str:
    if report.ok:
        return f"audit chain intact: {report.entries} entries, head {report.head_hash}"
    return (f"audit chain BROKEN at entry {report.first_bad_seq}: {report.problem} "
            f"({report.entries} entries verified before it)")
