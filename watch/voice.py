"""Compose Chief's RED ALERT, reminder, ALL CLEAR and budget messages.

No model call: routine alerts are templated, in Chief's terse status-report voice.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from inference.budget import BudgetEvent
from inference.config import InferenceSettings
from watch.incidents import Incident, IncidentEvent
from watch.messages import (
    ChiefMessage,
    MessageField,
    MessageKind,
    format_duration,
    format_number,
    format_time,
    join_names,
)
from watch.results import Status

__all__ = ["ChiefVoice", "route_impact"]

_MAX_FIELDS = 8


def route_impact(
    settings: InferenceSettings, node: str, up: Callable[[str], bool] | None = None
) -> str | None:
    """What a node outage means for the routes, e.g. "a and b are on their backups"."""
    routes = settings.routes_using_node(node)
    if not routes:
        return None
    primary = [r for r in routes if settings.models[settings.routes[r][0]].node == node]
    backup = [r for r in routes if r not in primary]
    stranded = [r for r in primary if not _has_backup(settings, r, node, up)]
    covered = [r for r in primary if r not in stranded]
    parts = []
    if covered:
        verb = "is" if len(covered) == 1 else "are"
        parts.append(f"{join_names(covered)} {verb} on {_their(covered)} backups")
    if stranded:
        verb = "has" if len(stranded) == 1 else "have"
        parts.append(f"{join_names(stranded)} {verb} no working step")
    if backup:
        verb = "has" if len(backup) == 1 else "have"
        parts.append(f"{join_names(backup)} {verb} lost a fallback")
    return f"{node} down: " + "; ".join(parts)


def _their(routes: list[str]) -> str:
    return "its" if len(routes) == 1 else "their"


def _has_backup(settings: InferenceSettings, route: str, node: str,
                up: Callable[[str], bool] | None) -> bool:
    others = [settings.models[a].node for a in settings.routes[route][1:]]
    others = [n for n in others if n != node]
    return any(up(n) for n in others) if up is not None else bool(others)


class ChiefVoice:
    def __init__(
        self,
        settings: InferenceSettings,
        zone: ZoneInfo,
        *,
        up: Callable[[str], bool] | None = None,
    ) -> None:
        self._settings = settings
        self._zone = zone
        self._up = up

    def incident(self, event: IncidentEvent, now: float) -> ChiefMessage:
        composer = {
            "opened": self._opened, "escalated": self._escalated,
            "reminder": self._reminder, "cleared": self._cleared,
        }[event.kind]
        return composer(event.incident, now)

    def impact(self, incident: Incident) -> str | None:
        if incident.subject.startswith("node:") and incident.severity is Status.CRITICAL:
            node = incident.subject.removeprefix("node:")
            if node in self._settings.nodes:
                return route_impact(self._settings, node, self._up)
        return None

    def _opened(self, incident: Incident, now: float) -> ChiefMessage:
        critical = incident.severity is Status.CRITICAL
        head = "🚨 RED ALERT" if critical else "⚠️ WARNING"
        return self._alert("red_alert" if critical else "warning", f"{head}: {incident.title}",
                           incident, now)

    def _escalated(self, incident: Incident, now: float) -> ChiefMessage:
        return self._alert("escalation", f"🚨 RED ALERT (escalated): {incident.title}",
                           incident, now)

    def _alert(self, kind: MessageKind, title: str, incident: Incident, now: float) -> ChiefMessage:
        since = format_time(incident.first_failed_at, self._zone)
        lines = [f"What: {incident.detail}",
                 f"Since: {since} ({format_duration(now - incident.first_failed_at)} ago)"]
        impact = self.impact(incident)
        if impact:
            lines.append(f"Impact: {impact}")
        critical = incident.severity is Status.CRITICAL
        return ChiefMessage(
            kind=kind, title=title, lines=tuple(lines),
            severity="critical" if critical else "warning", mention_role=critical,
            fields=self._fields(incident), footer=f"incident {incident.id[:8]} · Chief",
            timestamp=now, incident_id=incident.id,
        )

    def _reminder(self, incident: Incident, now: float) -> ChiefMessage:
        lasted = format_duration(incident.duration(now))
        lines = [f"Still failing: {incident.detail}",
                 f"Open for {lasted} (since {format_time(incident.first_failed_at, self._zone)})"]
        impact = self.impact(incident)
        if impact:
            lines.append(f"Impact: {impact}")
        critical = incident.severity is Status.CRITICAL
        return ChiefMessage(
            kind="reminder", title=f"⏰ STILL OPEN: {incident.title}", lines=tuple(lines),
            severity="critical" if critical else "warning", fields=self._fields(incident),
            footer=f"incident {incident.id[:8]} · reminder {incident.reminders} · Chief",
            timestamp=now, incident_id=incident.id,
        )

    def _cleared(self, incident: Incident, now: float) -> ChiefMessage:
        lasted = format_duration(incident.duration(now))
        start = format_time(incident.first_failed_at, self._zone)
        end = format_time(incident.closed_at or now, self._zone)
        lines = (f"Recovered after {lasted} (from {start} to {end}).",
                 f"Was: {incident.title}")
        return ChiefMessage(
            kind="all_clear", title=f"✅ ALL CLEAR: {incident.subject}", lines=lines,
            severity="ok", fields=(MessageField("Duration", lasted),),
            footer=f"incident {incident.id[:8]} · Chief", timestamp=now,
            incident_id=incident.id,
        )

    def _fields(self, incident: Incident) -> tuple[MessageField, ...]:
        items = sorted(incident.numbers.items())[:_MAX_FIELDS]
        return tuple(MessageField(name.replace("_", " "), format_number(name, value))
                     for name, value in items)

    def budget(self, event: BudgetEvent, now: float) -> ChiefMessage:
        who = "Team" if event.scope == "team" else f"{event.scope}'s"
        reached = event.threshold >= 1.0
        percent = f"{event.threshold:.0%}"
        title = (f"💸 BUDGET REACHED: {who} {event.period} cloud budget" if reached
                 else f"💸 BUDGET WARNING: {who} {event.period} cloud budget at {percent}")
        spent = f"${event.spent_usd:.2f} of ${event.limit_usd:.2f} ({event.period_key})"
        then = ("Cloud steps are skipped until the period ends: local models only."
                if reached else "At 100% cloud steps stop and local models answer alone.")
        return ChiefMessage(
            kind="budget", title=title, lines=(f"Spent: {spent}", then),
            severity="critical" if reached else "warning",
            fields=(MessageField("Spent", f"${event.spent_usd:.2f}"),
                    MessageField("Limit", f"${event.limit_usd:.2f}"),
                    MessageField("Threshold", percent)),
            footer="Chief · budgets", timestamp=now,
        )
