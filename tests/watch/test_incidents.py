"""The incident tracker's logic: flap suppression, grouping by subject, reminders,
escalation, recovery and restore — driven with explicit times."""

from __future__ import annotations

from watch.incidents import IncidentTracker
from watch.results import CheckResult, Status
from watch.settings import IncidentSettings

CONFIG = IncidentSettings(open_after=3, clear_after=2, reminder_minutes=10)


def result(status: Status, key: str = "node/mlx", subject: str = "node:mlx",
           message: str = "mlx down") -> CheckResult:
    return CheckResult("nodes", key, status, message if status else "mlx up", subject,
                       numbers={"consecutive_failures": 3.0})


def kinds(tracker: IncidentTracker, results: list[CheckResult], now: float) -> list[str]:
    return [e.kind for e in tracker.observe(results, now)]


def test_flapping_never_opens_an_incident() -> None:
    tracker = IncidentTracker(CONFIG)
    pattern = [Status.CRITICAL, Status.CRITICAL, Status.OK] * 5
    events = [kinds(tracker, [result(s)], t * 60.0) for t, s in enumerate(pattern)]
    assert all(e == [] for e in events)
    assert tracker.open_incidents == []


def test_open_remind_escalate_and_clear() -> None:
    tracker = IncidentTracker(CONFIG)
    assert kinds(tracker, [result(Status.WARN)], 0) == []
    assert kinds(tracker, [result(Status.WARN)], 60) == []
    [opened] = tracker.observe([result(Status.WARN)], 120)
    assert (opened.kind, opened.incident.severity) == ("opened", Status.WARN)
    assert opened.incident.first_failed_at == 0
    assert kinds(tracker, [result(Status.WARN)], 600) == []
    assert kinds(tracker, [result(Status.WARN)], 720) == ["reminder"]
    [escalated] = tracker.observe([result(Status.CRITICAL, message="mlx gone")], 780)
    assert (escalated.kind, escalated.incident.severity) == ("escalated", Status.CRITICAL)
    assert escalated.incident.title == "mlx gone"
    assert kinds(tracker, [result(Status.WARN)], 840) == [], "never de-escalates"
    assert kinds(tracker, [result(Status.OK)], 900) == []
    assert kinds(tracker, [result(Status.WARN)], 960) == [], "a bad sweep resets recovery"
    assert kinds(tracker, [result(Status.OK)], 1020) == []
    [cleared] = tracker.observe([result(Status.OK)], 1080)
    assert cleared.kind == "cleared"
    assert cleared.incident.closed_at == 1080
    assert cleared.incident.duration() == 1080
    assert cleared.incident.reminders == 1
    assert tracker.open_incidents == []


def test_one_incident_per_subject_across_checks() -> None:
    tracker = IncidentTracker(CONFIG)
    both = [result(Status.CRITICAL), result(Status.CRITICAL, key="mlx_daemon",
                                             message="worker dead")]
    for t in range(2):
        assert kinds(tracker, both, t * 60.0) == []
    [opened] = tracker.observe(both, 120)
    assert opened.incident.detail == "mlx down; worker dead"
    other = [result(Status.CRITICAL, key="docker/redis", subject="container:redis")]
    for t in range(3, 6):
        tracker.observe(both + other, t * 60.0)
    assert [i.subject for i in tracker.open_incidents] == ["node:mlx", "container:redis"]


def test_reminders_continue_when_the_subject_is_not_reported() -> None:
    tracker = IncidentTracker(CONFIG)
    for t in range(3):
        tracker.observe([result(Status.CRITICAL)], t * 60.0)
    assert kinds(tracker, [], 700) == []
    assert kinds(tracker, [], 720) == ["reminder"]


def test_restore_takes_over_without_announcing() -> None:
    first = IncidentTracker(CONFIG)
    for t in range(3):
        first.observe([result(Status.CRITICAL)], t * 60.0)
    second = IncidentTracker(CONFIG)
    second.restore(first.open_incidents)
    assert kinds(second, [result(Status.CRITICAL)], 180) == []
    assert kinds(second, [result(Status.OK)], 240) == []
    assert kinds(second, [result(Status.OK)], 300) == ["cleared"]
