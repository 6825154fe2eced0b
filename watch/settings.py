"""The ``watch:`` section of ``homecrew.yaml``: Chief's schedule, checks, alerts and metrics.

Every key is optional; a config without ``watch:`` gets the defaults (sweep every 60 s,
daily spend report at 09:00, weekly summary on Monday, alerts in #alerts and #chief).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from inference.config import TimeZoneName

__all__ = [
    "AnomalySettings",
    "ChannelSettings",
    "ChecksSettings",
    "DailyReport",
    "DockerCheckSettings",
    "HostCheckSettings",
    "HttpEndpoint",
    "IncidentSettings",
    "LedgerCheckSettings",
    "MetricsSettings",
    "MlxDaemonCheckSettings",
    "NodeCheckSettings",
    "PostgresCheckSettings",
    "PrometheusCheckSettings",
    "PrometheusQuery",
    "RedisCheckSettings",
    "ReportSettings",
    "ScheduleSettings",
    "WatchSettings",
    "WeeklyReport",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Level = Literal["ok", "warn", "critical"]
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"expected a time like 09:00, got {value!r}")
    return value


class DailyReport(_Section):
    at: str = Field(default="09:00", description="local time HH:MM in watch.timezone")

    _hhmm = field_validator("at")(_check_hhmm)

    @property
    def hour(self) -> int:
        return int(self.at.split(":")[0])

    @property
    def minute(self) -> int:
        return int(self.at.split(":")[1])


class WeeklyReport(DailyReport):
    day: Weekday = "mon"


class ScheduleSettings(_Section):
    sweep_seconds: float = Field(default=60.0, gt=0, description="health sweep interval")
    daily_report: DailyReport | None = Field(default=DailyReport(), description="null: off")
    weekly_summary: WeeklyReport | None = Field(default=WeeklyReport(), description="null: off")
    misfire_grace_minutes: float = Field(
        default=30.0, gt=0, description="a late job still runs within this many minutes"
    )
    catch_up: bool = Field(
        default=True, description="on start, run a report whose last slot passed unrecorded"
    )


class _Timed(_Section):
    timeout_s: float = Field(default=5.0, gt=0)


class NodeCheckSettings(_Section):
    enabled: bool = True
    probe_latency_warn_s: float | None = Field(default=5.0, gt=0)
    ollama_details: bool = Field(default=True, description="also ask Ollama /api/ps, /version")
    timeout_s: float = Field(default=5.0, gt=0)


class MlxDaemonCheckSettings(_Timed):
    url: str | None = Field(default=None, description="e.g. http://mac.lan:8080/health")
    node: str | None = Field(default=None, description="the inference node it serves")
    memory_warn_fraction: float = Field(default=0.95, gt=0)
    queue_warn_fraction: float = Field(default=0.8, gt=0)


class RedisCheckSettings(_Timed):
    enabled: bool = True
    url: str | None = Field(default=None, description="default: cache.redis_url")
    latency_warn_s: float = Field(default=0.1, gt=0)
    memory_warn_fraction: float = Field(default=0.9, gt=0, description="of maxmemory, if set")


class PostgresCheckSettings(_Timed):
    enabled: bool = True
    url: str | None = Field(default=None, description="default: ledger.database_url (PostgreSQL)")
    latency_warn_s: float = Field(default=0.2, gt=0)
    connections_warn_fraction: float = Field(default=0.8, gt=0)
    connections_critical_fraction: float = Field(default=0.95, gt=0)


class LedgerCheckSettings(_Section):
    enabled: bool = True
    backlog_warn: int = Field(default=1_000, ge=1)
    backlog_critical: int = Field(default=10_000, ge=1)


class HttpEndpoint(_Timed):
    name: str = Field(min_length=1)
    url: str
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: tuple[int, ...] = (200,)
    max_latency_s: float | None = Field(default=2.0, gt=0, description="slower: warn")
    severity: Literal["warn", "critical"] = "critical"


class DockerCheckSettings(_Timed):
    enabled: bool = False
    socket: Path = Path("/var/run/docker.sock")
    api_version: str | None = Field(default=None, description="e.g. 1.43; none: unversioned")
    containers: tuple[str, ...] = Field(default=(), description="names to watch; empty: all")
    max_restarts: int | None = Field(default=None, ge=0, description="restart count: warn above")


class PrometheusQuery(_Section):
    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    warn_above: float | None = None
    critical_above: float | None = None
    warn_below: float | None = None
    critical_below: float | None = None
    unit: str = ""
    when_empty: Level = Field(default="warn", description="status when the query has no data")


class PrometheusCheckSettings(_Timed):
    url: str | None = Field(default=None, description="e.g. http://127.0.0.1:9090")
    queries: tuple[PrometheusQuery, ...] = ()


class HostCheckSettings(_Section):
    enabled: bool = True
    cpu_warn_percent: float | None = Field(default=95.0, gt=0)
    memory_warn_percent: float | None = Field(default=90.0, gt=0)
    memory_critical_percent: float | None = Field(default=97.0, gt=0)
    disk_paths: tuple[str, ...] = ("/",)
    disk_warn_percent: float | None = Field(default=85.0, gt=0)
    disk_critical_percent: float | None = Field(default=95.0, gt=0)


class ChecksSettings(_Section):
    default_timeout_s: float = Field(default=10.0, gt=0, description="cap on any one check")
    nodes: NodeCheckSettings = NodeCheckSettings()
    mlx_daemon: MlxDaemonCheckSettings = MlxDaemonCheckSettings()
    redis: RedisCheckSettings = RedisCheckSettings()
    postgres: PostgresCheckSettings = PostgresCheckSettings()
    ledger: LedgerCheckSettings = LedgerCheckSettings()
    http: tuple[HttpEndpoint, ...] = ()
    docker: DockerCheckSettings = DockerCheckSettings()
    prometheus: PrometheusCheckSettings = PrometheusCheckSettings()
    host: HostCheckSettings = HostCheckSettings()


class IncidentSettings(_Section):
    open_after: int = Field(default=3, ge=1, description="consecutive failing sweeps (k)")
    clear_after: int = Field(default=2, ge=1, description="consecutive healthy sweeps")
    reminder_minutes: float = Field(default=30.0, gt=0)
    critical_role: str | None = Field(default=None, description="role mentioned on critical")
    auto_halt_on_critical: bool = False


class AnomalySettings(_Section):
    enabled: bool = True
    z_threshold: float = Field(default=3.0, gt=0)
    sustain_minutes: float = Field(default=5.0, gt=0)
    bucket_seconds: float = Field(default=60.0, gt=0)
    baseline_minutes: float = Field(default=60.0, gt=0)
    min_baseline_buckets: int = Field(default=10, ge=2)
    min_samples: int = Field(default=3, ge=1, description="per bucket, to judge it")
    latency_floor_s: float = Field(default=0.05, gt=0, description="smallest std used")
    error_rate_floor: float = Field(default=0.05, gt=0, description="smallest std used")


class ChannelSettings(_Section):
    alerts: tuple[str, ...] = ("alerts", "chief")
    reports: tuple[str, ...] = ("chief",)


class MetricsSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535, description="0: any free port")


class ReportSettings(_Section):
    local_share_target: float = Field(default=0.95, gt=0, le=1, description="the seed's ~95 %")


class WatchSettings(_Section):
    timezone: TimeZoneName = "UTC"
    schedule: ScheduleSettings = ScheduleSettings()
    checks: ChecksSettings = ChecksSettings()
    incidents: IncidentSettings = IncidentSettings()
    anomaly: AnomalySettings = AnomalySettings()
    channels: ChannelSettings = ChannelSettings()
    metrics: MetricsSettings = MetricsSettings()
    report: ReportSettings = ReportSettings()

    @model_validator(mode="after")
    def _unique_names(self) -> WatchSettings:
        for label, names in (
            ("checks.http", [e.name for e in self.checks.http]),
            ("checks.prometheus.queries", [q.name for q in self.checks.prometheus.queries]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{label}: duplicate name(s) {', '.join(duplicates)}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
