"""Incidents: flap suppression, one alert per incident, reminders and recovery.

Results are grouped by subject (one outage seen by several checks is one incident). A
subject that fails ``open_after`` sweeps in a row opens an incident; while it is open a
reminder is due every ``reminder_minutes``; a rise to critical is an escalation; after
``clear_after`` healthy sweeps in a row it closes (ALL CLEAR). Pure logic: time comes in
as ``now``, nothing is posted or stored here.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from watch.results import CheckResult, Status, worst
from watch.settings import IncidentSettings

__all__ = ["EventKind", "Incident", "IncidentEvent", "IncidentTracker"]

EventKind = Literal["opened", "escalated", "reminder", "cleared"]


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    subject: str
    severity: Status
    title: str  # what failed, at the worst moment so far
    detail: str  # the latest failing messages
    first_failed_at: float
    opened_at: float
    last_notified_at: float
    reminders: int = 0
    closed_at: float | None = None
    numbers: Mapping[str, float] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def duration(self, now: float | None = None) -> float:
        """Seconds from the first failure to recovery (or to ``now`` while open)."""
        end = self.closed_at if self.closed_at is not None else now
        return max(0.0, (end if end is not None else self.opened_at) - self.first_failed_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "subject": self.subject, "severity": self.severity.label,
            "title": self.title, "detail": self.detail, "first_failed_at": self.first_failed_at,
            "opened_at": self.opened_at, "closed_at": self.closed_at,
            "reminders": self.reminders, "duration_s": self.duration(),
            "numbers": dict(self.numbers),
        }


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    kind: EventKind
    incident: Incident
    results: tuple[CheckResult, ...] = ()  # the subject's results in this sweep


@dataclass
class _Streak:
    failures: int = 0
    since: float | None = None
    healthy: int = 0


class IncidentTracker:
    def __init__(self, config: IncidentSettings) -> None:
        self._config = config
        self._open: dict[str, Incident] = {}
        self._streaks: defaultdict[str, _Streak] = defaultdict(_Streak)

    @property
    def open_incidents(self) -> list[Incident]:
        return sorted(self._open.values(), key=lambda i: i.opened_at)

    def restore(self, incidents: Iterable[Incident]) -> None:
        """Take over incidents left open by a previous run (no second alert for them)."""
        for incident in incidents:
            if incident.open:
                self._open[incident.subject] = incident
                self._streaks[incident.subject].failures = self._config.open_after

    def observe(self, results: Sequence[CheckResult], now: float) -> list[IncidentEvent]:
        by_subject: defaultdict[str, list[CheckResult]] = defaultdict(list)
        for result in results:
            by_subject[result.incident_subject].append(result)
        events: list[IncidentEvent] = []
        for subject, group in by_subject.items():
            event = (self._failing(subject, tuple(group), now) if worst(group) is not Status.OK
                     else self._healthy(subject, tuple(group), now))
            if event is not None:
                events.append(event)
        for subject, incident in list(self._open.items()):
            if subject not in by_subject:  # not seen this sweep (e.g. its check failed)
                event = self._remind(incident, (), now)
                if event is not None:
                    events.append(event)
        return events

    def _failing(self, subject: str, group: tuple[CheckResult, ...],
                 now: float) -> IncidentEvent | None:
        streak = self._streaks[subject]
        streak.failures += 1
        streak.healthy = 0
        streak.since = streak.since if streak.since is not None else now
        severity = worst(group)
        failing = [r for r in group if not r.ok]
        top = max(failing, key=lambda r: r.status)
        detail = "; ".join(r.message for r in failing)
        numbers = {k: v for r in failing for k, v in r.numbers.items()}
        incident = self._open.get(subject)
        if incident is None:
            if streak.failures < self._config.open_after:
                return None
            incident = Incident(uuid.uuid4().hex, subject, severity, top.message, detail,
                                streak.since, now, now, numbers=numbers)
            self._open[subject] = incident
            return IncidentEvent("opened", incident, group)
        escalated = severity > incident.severity
        incident = replace(incident, detail=detail, numbers=numbers,
                           severity=max(severity, incident.severity),
                           title=top.message if escalated else incident.title)
        self._open[subject] = incident
        if escalated:
            incident = replace(incident, last_notified_at=now)
            self._open[subject] = incident
            return IncidentEvent("escalated", incident, group)
        return self._remind(incident, group, now)

    def _remind(self, incident: Incident, group: tuple[CheckResult, ...],
                now: float) -> IncidentEvent | None:
        if now - incident.last_notified_at < self._config.reminder_minutes * 60:
            return None
        incident = replace(incident, last_notified_at=now, reminders=incident.reminders + 1)
        self._open[incident.subject] = incident
        return IncidentEvent("reminder", incident, group)

    def _healthy(self, subject: str, group: tuple[CheckResult, ...],
                 now: float) -> IncidentEvent | None:
        streak = self._streaks[subject]
        streak.failures, streak.since = 0, None
        streak.healthy += 1
        incident = self._open.get(subject)
        if incident is None or streak.healthy < self._config.clear_after:
            return None
        del self._open[subject]
        return IncidentEvent("cleared", replace(incident, closed_at=now), group)
