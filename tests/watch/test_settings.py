"""The ``watch:`` section: defaults when absent, validation, and the messages' helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from homecrew.settings import load_settings
from inference.errors import ConfigError
from watch.messages import format_duration, join_names
from watch.settings import WatchSettings

BASE = """
nodes:
  ollama: {kind: ollama, base_url: "http://127.0.0.1:11434"}
models:
  qwen: {node: ollama, model: "qwen2.5:14b"}
routes:
  smart-agent: [qwen]
"""


def test_a_config_without_watch_gets_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "homecrew.yaml"
    path.write_text(BASE)
    watch = load_settings(path, environ={}).watch
    assert watch == WatchSettings()
    assert watch.schedule.sweep_seconds == 60
    assert watch.schedule.daily_report is not None and watch.schedule.daily_report.at == "09:00"
    assert watch.schedule.weekly_summary is not None
    assert watch.schedule.weekly_summary.day == "mon"
    assert watch.schedule.misfire_grace_minutes == 30
    assert watch.channels.alerts == ("alerts", "chief")
    assert watch.incidents.open_after == 3
    assert watch.metrics.port == 9464
    assert watch.anomaly.z_threshold == 3 and watch.anomaly.sustain_minutes == 5


def test_a_full_watch_section(tmp_path: Path) -> None:
    path = tmp_path / "homecrew.yaml"
    path.write_text(BASE + """
watch:
  timezone: America/Chicago
  schedule: {sweep_seconds: 30, daily_report: {at: "07:45"}, weekly_summary: null}
  checks:
    http: [{name: skip-dashboard, url: "http://127.0.0.1:3000/health", max_latency_s: 1}]
    docker: {enabled: true, socket: /run/docker.sock, containers: [redis, postgres]}
    prometheus:
      url: "http://127.0.0.1:9090"
      queries: [{name: mac-memory, query: "node_memory_used_ratio", warn_above: 0.9}]
    mlx_daemon: {url: "http://127.0.0.1:8080/health", node: ollama}
  incidents: {open_after: 2, reminder_minutes: 15, critical_role: oncall,
              auto_halt_on_critical: true}
  channels: {alerts: [alerts], reports: [chief, general]}
  metrics: {port: 0}
""")
    watch = load_settings(path, environ={}).watch
    assert watch.zone.key == "America/Chicago"
    assert watch.schedule.weekly_summary is None
    assert watch.checks.docker.containers == ("redis", "postgres")
    assert watch.checks.prometheus.queries[0].warn_above == 0.9
    assert watch.incidents.auto_halt_on_critical


@pytest.mark.parametrize(("data", "problem"), [
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"schedule": {"daily_report": {"at": "9am"}}}, "expected a time like 09:00"),
    ({"incidents": {"open_after": 0}}, "greater than or equal to 1"),
    ({"checks": {"http": [{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]}},
     "duplicate name(s) a"),
    ({"surprise": True}, "Extra inputs are not permitted"),
])
def test_invalid_sections(data: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        WatchSettings.model_validate(data)


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "homecrew.yaml"
    path.write_text(BASE + "watch: {schedule: {sweep_seconds: -1}}\n")
    with pytest.raises(ConfigError, match=r"watch\.schedule\.sweep_seconds"):
        load_settings(path, environ={})


def test_wording_helpers() -> None:
    assert join_names(["a"]) == "a"
    assert join_names(["a", "b"]) == "a and b"
    assert join_names(["a", "b", "c"]) == "a, b and c"
    assert [format_duration(s) for s in (12, 600, 3600, 5400, 3 * 86400 + 7200)] == [
        "12 s", "10 min", "1 h", "1 h 30 min", "3 d 2 h"]
