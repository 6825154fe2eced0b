"""Chief's schedule: APScheduler's asyncio scheduler on the running loop.

Jobs have fixed ids (``replace_existing``), ``coalesce=True`` and a misfire grace of minutes
(APScheduler 3's default of one second silently drops a daily job after a restart or a busy
loop). Each run of a report is claimed in the store for its scheduled *slot* — the latest
fire time of its trigger not after now — so a restart neither skips nor double-posts: on
start, a slot that passed unrecorded is run once (``catch_up``).

Everything takes an explicit ``now`` so tests drive the jobs without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from inference.errors import StoreError
from watch.messages import ChiefMessage
from watch.settings import WatchSettings
from watch.store import WatchStore

__all__ = [
    "DAILY_JOB",
    "SWEEP_JOB",
    "WEEKLY_JOB",
    "ReportJobs",
    "RunOutcome",
    "WatchScheduler",
    "last_fire_time",
    "report_triggers",
]

log = logging.getLogger(__name__)

SWEEP_JOB = "watch.health_sweep"
DAILY_JOB = "watch.daily_spend_report"
WEEKLY_JOB = "watch.weekly_summary"
RunOutcome = Literal["posted", "already_ran", "no_slot", "failed"]
_LOOKBACK = timedelta(days=8)

ReportMaker = Callable[[str, float], Awaitable[ChiefMessage]]  # (job id, slot) -> message
Deliver = Callable[[ChiefMessage], Awaitable[bool]]
StoreGetter = Callable[[], Awaitable[WatchStore]]


def report_triggers(config: WatchSettings) -> dict[str, Any]:
    """The cron triggers of the configured reports, by job id."""
    schedule, zone = config.schedule, config.zone
    triggers: dict[str, Any] = {}
    if schedule.daily_report is not None:
        daily = schedule.daily_report
        triggers[DAILY_JOB] = CronTrigger(hour=daily.hour, minute=daily.minute, timezone=zone)
    if schedule.weekly_summary is not None:
        weekly = schedule.weekly_summary
        triggers[WEEKLY_JOB] = CronTrigger(day_of_week=weekly.day, hour=weekly.hour,
                                           minute=weekly.minute, timezone=zone)
    return triggers


def last_fire_time(trigger: Any, now: datetime, lookback: timedelta = _LOOKBACK) -> datetime | None:
    """The latest fire time of ``trigger`` at or before ``now`` (within ``lookback``)."""
    fire: datetime | None = trigger.get_next_fire_time(None, now - lookback)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return last


class ReportJobs:
    """Runs each report once per slot, whoever asks (the scheduler, catch-up, a retry)."""

    def __init__(
        self,
        triggers: Mapping[str, Any],
        store: StoreGetter,
        make: ReportMaker,
        deliver: Deliver,
        *,
        clock: Callable[[], float] = time.time,
        on_run: Callable[[str, str], None] | None = None,
    ) -> None:
        self.triggers = dict(triggers)
        self._store = store
        self._make = make
        self._deliver = deliver
        self._clock = clock
        self._on_run = on_run

    def slot(self, job_id: str, now: float) -> float | None:
        fire = last_fire_time(self.triggers[job_id], datetime.fromtimestamp(now, UTC))
        return None if fire is None else fire.timestamp()

    async def run(self, job_id: str, now: float | None = None) -> RunOutcome:
        moment = self._clock() if now is None else now
        slot = self.slot(job_id, moment)
        if slot is None:
            return self._done(job_id, "no_slot")
        try:
            store = await self._store()
            if not await store.claim_run(job_id, slot, moment):
                return self._done(job_id, "already_ran")
        except StoreError as exc:
            log.warning("%s: cannot record the run, not posting: %s", job_id, exc)
            return self._done(job_id, "failed")
        ok = False
        try:
            ok = await self._deliver(await self._make(job_id, slot))
        except Exception:
            log.exception("%s failed", job_id)
        try:
            await store.finish_run(job_id, slot, self._clock(), ok=ok)
        except StoreError as exc:
            log.warning("%s: could not record the run's end: %s", job_id, exc)
        return self._done(job_id, "posted" if ok else "failed")

    async def catch_up(self, now: float | None = None) -> dict[str, RunOutcome]:
        """Run each report whose latest slot passed without a recorded run."""
        moment = self._clock() if now is None else now
        outcomes: dict[str, RunOutcome] = {}
        for job_id in self.triggers:
            slot = self.slot(job_id, moment)
            if slot is None:
                continue
            try:
                ran = await (await self._store()).ran(job_id, slot)
            except StoreError as exc:
                log.warning("%s: cannot check for a missed run: %s", job_id, exc)
                continue
            if not ran:
                outcomes[job_id] = await self.run(job_id, moment)
        return outcomes

    def _done(self, job_id: str, outcome: RunOutcome) -> RunOutcome:
        if self._on_run is not None and outcome != "already_ran":
            self._on_run(job_id, outcome)
        return outcome


class WatchScheduler:
    """The health sweep and the reports on an ``AsyncIOScheduler`` (start inside the loop)."""

    def __init__(
        self,
        config: WatchSettings,
        sweep: Callable[[], Awaitable[object]],
        reports: ReportJobs,
        *,
        on_run: Callable[[str, str], None] | None = None,
    ) -> None:
        self._config = config
        self._sweep = sweep
        self._on_run = on_run
        self.reports = reports
        grace = int(config.schedule.misfire_grace_minutes * 60)
        self._job_options: dict[str, Any] = {
            "replace_existing": True, "coalesce": True, "misfire_grace_time": grace,
            "max_instances": 1,
        }
        self.scheduler = AsyncIOScheduler(timezone=config.zone)
        self._add_jobs()

    def _add_jobs(self) -> None:
        every = self._config.schedule.sweep_seconds
        self.scheduler.add_job(self._run_sweep, IntervalTrigger(seconds=every),
                               id=SWEEP_JOB, name="Chief's health sweep", **self._job_options)
        for job_id, trigger in self.reports.triggers.items():
            self.scheduler.add_job(self.reports.run, trigger, args=[job_id], id=job_id,
                                   name=job_id, **self._job_options)

    async def start(self) -> None:
        if self._config.schedule.catch_up:
            await self.reports.catch_up()
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def next_run_times(self) -> dict[str, datetime | None]:
        return {job.id: getattr(job, "next_run_time", None) for job in self.scheduler.get_jobs()}

    async def _run_sweep(self) -> None:
        try:
            await self._sweep()
        except Exception:
            log.exception("health sweep failed")
            status = "failed"
        else:
            status = "ok"
        if self._on_run is not None:
            self._on_run(SWEEP_JOB, status)
