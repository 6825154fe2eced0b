"""Chief's watch on one inference stack: sweeps, incidents, posts, reports and metrics.

Inside the bot (on its event loop)::

    async with Watch.open(settings, settings.watch, stack=stack, poster=poster,
                          schedule=False) as watch:
        async with TeamEngine.open(stack, settings.team, chief=ChiefClearance(watch)) as team:
            watch.on_critical = halt_production(team.board)  # homecrew.compose; auto-halt
            ...  # once the bot can post: await watch.start() (sweeps, reports, catch-up)

Chief stays silent while healthy: a sweep only posts when an incident opens, escalates,
is due a reminder or clears, and never calls a model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from inference.budget import BudgetEvent
from inference.config import InferenceSettings
from inference.errors import StoreError
from inference.runtime import InferenceStack
from watch.anomaly import AnomalyDetector
from watch.checks import CheckSet, build_checks
from watch.checks._base import timed
from watch.incidents import Incident, IncidentEvent, IncidentTracker
from watch.messages import ChiefMessage
from watch.metrics import MetricsServer, WatchMetrics
from watch.poster import Outbox, Poster
from watch.reporter import SpendReporter
from watch.results import CheckResult, Status, run_checks
from watch.scheduler import ReportJobs, WatchScheduler, report_triggers
from watch.settings import WatchSettings
from watch.store import WatchStore
from watch.voice import ChiefVoice

__all__ = ["HaltHook", "SweepReport", "Watch"]

log = logging.getLogger(__name__)

HaltHook = Callable[[Incident], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class SweepReport:
    at: float
    results: tuple[CheckResult, ...]
    events: tuple[IncidentEvent, ...]
    messages: tuple[ChiefMessage, ...]


class Watch:
    def __init__(
        self,
        settings: InferenceSettings,
        config: WatchSettings,
        *,
        stack: InferenceStack,
        poster: Poster,
        checks: CheckSet,
        clock: Callable[[], float] = time.time,
        on_critical: HaltHook | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.stack = stack
        self.checks = checks
        self.clock = clock
        self.metrics = WatchMetrics()
        self.anomaly = AnomalyDetector(config.anomaly, clock)
        self.tracker = IncidentTracker(config.incidents)
        self.voice = ChiefVoice(settings, config.zone, up=stack.board.would_allow)
        self.outbox = Outbox(poster, on_result=lambda m, ok: self.metrics.posted(m.kind, ok))
        self.reporter = SpendReporter(settings, config, stack.database, self.store)
        self.reports = ReportJobs(report_triggers(config), self.store, self.reporter.for_job,
                                  self.post_report, clock=clock, on_run=self.metrics.job_ran)
        self.scheduler = WatchScheduler(config, self.sweep, self.reports,
                                        on_run=self.metrics.job_ran)
        self.metrics_server: MetricsServer | None = None
        self.on_critical = on_critical
        self._store: WatchStore | None = None
        self._store_lock = asyncio.Lock()
        self._latest: SweepReport | None = None
        self._checked: tuple[float, tuple[CheckResult, ...]] | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: InferenceSettings,
        config: WatchSettings,
        *,
        stack: InferenceStack,
        poster: Poster,
        clock: Callable[[], float] = time.time,
        on_critical: HaltHook | None = None,
        schedule: bool = True,
        serve_metrics: bool | None = None,
        checks: CheckSet | None = None,
    ) -> AsyncIterator[Watch]:
        """Start the watch on the running loop; everything it started stops on exit.

        ``schedule=False`` leaves the scheduler off until :meth:`start` (or drive
        ``sweep``/``reports`` yourself);
        ``serve_metrics`` defaults to ``config.metrics.enabled``; ``checks`` replaces the
        configured set.
        """
        async with AsyncExitStack() as es:
            client = await es.enter_async_context(httpx.AsyncClient())
            if checks is None:
                checks = build_checks(settings, config, client, board=stack.board,
                                      ledger=stack.ledger)
            es.push_async_callback(checks.aclose)
            watch = cls(settings, config, stack=stack, poster=poster, checks=checks,
                        clock=clock, on_critical=on_critical)
            await watch.restore()
            stack.sink.add(watch.metrics)
            stack.sink.add(watch.anomaly)
            stack.budgets.subscribe(watch.on_budget)
            outbox = asyncio.create_task(watch.outbox.run(), name="watch-outbox")
            es.push_async_callback(_cancel, outbox)
            es.push_async_callback(watch.drain, 5.0)
            if config.metrics.enabled if serve_metrics is None else serve_metrics:
                watch.metrics_server = await es.enter_async_context(MetricsServer(
                    watch.metrics, host=config.metrics.host, port=config.metrics.port,
                    before_scrape=watch.refresh_metrics))
            es.callback(watch.scheduler.shutdown)
            if schedule:
                await watch.start()
            yield watch

    async def start(self) -> None:
        """Start the scheduler on the running loop, first catching up on missed reports.

        ``Watch.open(schedule=True)`` calls it; a bot that opens the watch before it is
        connected passes ``schedule=False`` and calls this once it can post. Idempotent.
        """
        if not self.scheduler.scheduler.running:
            await self.scheduler.start()

    # -- the store -------------------------------------------------------------------------
    async def store(self) -> WatchStore:
        """Chief's tables in the ledger's database (migrated on first use)."""
        async with self._store_lock:
            if self._store is None:
                self._store = await WatchStore.open(await self.stack.database())
            return self._store

    async def restore(self) -> None:
        """Take over incidents a previous run left open, so they are not announced again."""
        try:
            self.tracker.restore(await (await self.store()).open_incidents())
        except StoreError as exc:
            log.warning("watch: incident history unavailable (%s); starting afresh", exc)
        self.metrics.observe_incidents(self.tracker.open_incidents)

    async def history(self, *, since: float | None = None, limit: int = 50) -> list[Incident]:
        return await (await self.store()).history(since=since, limit=limit)

    # -- sweeps ----------------------------------------------------------------------------
    async def sweep(self, now: float | None = None) -> SweepReport:
        """Run every check, judge anomalies, update incidents and post what changed."""
        moment = self.clock() if now is None else now
        elapsed = timed()
        results = await run_checks(self.checks.checks, self.config.checks.default_timeout_s)
        board = self.stack.board.snapshot()
        if self.config.anomaly.enabled:
            self.anomaly.observe_probes(board.values(), moment)
            results.extend(self.anomaly.evaluate(moment))
        events = self.tracker.observe(results, moment)
        messages = []
        for event in events:
            message = self.voice.incident(event, moment)
            self.outbox.put(self.config.channels.alerts, message)
            messages.append(message)
            await self._save(event.incident)
            if self._halts(event):
                await self._halt(event.incident)
        self.metrics.observe_board(board)
        self.metrics.observe_results(results)
        self.metrics.observe_incidents(self.tracker.open_incidents)
        self.metrics.sweep_seconds.set(elapsed())
        report = SweepReport(moment, tuple(results), tuple(events), tuple(messages))
        self._latest = report
        self._checked = (moment, report.results)
        return report

    async def check_now(self) -> tuple[CheckResult, ...]:
        """Run every check once without touching incidents (``homecrew watch check``)."""
        results = tuple(await run_checks(self.checks.checks,
                                         self.config.checks.default_timeout_s))
        self._checked = (self.clock(), results)
        return results

    async def current_results(self, max_age_s: float | None = None) -> tuple[CheckResult, ...]:
        """The latest results, re-checked when older than ``max_age_s`` (default: 2 sweeps)."""
        limit = 2 * self.config.schedule.sweep_seconds if max_age_s is None else max_age_s
        if self._checked is not None and self.clock() - self._checked[0] <= limit:
            return self._checked[1]
        return await self.check_now()

    @property
    def latest(self) -> SweepReport | None:
        return self._latest

    @property
    def open_incidents(self) -> list[Incident]:
        return self.tracker.open_incidents

    # -- posting ---------------------------------------------------------------------------
    def on_budget(self, event: BudgetEvent) -> None:
        """Budget keeper listener: one warning per 80 % / 100 % crossing."""
        self.outbox.put(self.config.channels.alerts, self.voice.budget(event, self.clock()))

    async def post_report(self, message: ChiefMessage) -> bool:
        return await self.outbox.send(self.config.channels.reports, message)

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait until every queued post was delivered (or given up on)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.outbox.drain()
        except TimeoutError:
            log.warning("watch: some posts were still pending at shutdown")

    def refresh_metrics(self) -> None:
        self.metrics.observe_board(self.stack.board.snapshot())

    # -- helpers ---------------------------------------------------------------------------
    async def _save(self, incident: Incident) -> None:
        try:
            await (await self.store()).save(incident)
        except StoreError as exc:
            log.warning("watch: could not persist incident %s: %s", incident.id, exc)

    def _halts(self, event: IncidentEvent) -> bool:
        return (self.config.incidents.auto_halt_on_critical and self.on_critical is not None
                and event.kind in ("opened", "escalated")
                and event.incident.severity is Status.CRITICAL)

    async def _halt(self, incident: Incident) -> None:
        assert self.on_critical is not None
        try:
            await self.on_critical(incident)
        except Exception:
            log.exception("watch: the auto-halt hook failed for %s", incident.subject)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
