"""Make the spend report messages (daily, weekly, by hand) with their PNG chart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from inference.config import InferenceSettings
from store import Database
from watch.chart import render_spend_chart
from watch.incidents import Incident
from watch.messages import ChiefMessage
from watch.report import SpendDigest, collect_digest, compose_report
from watch.scheduler import WEEKLY_JOB
from watch.settings import WatchSettings
from watch.store import WatchStore

__all__ = ["SpendReporter"]

DAY = 86_400.0


class SpendReporter:
    def __init__(
        self,
        settings: InferenceSettings,
        config: WatchSettings,
        database: Callable[[], Awaitable[Database]],
        store: Callable[[], Awaitable[WatchStore]] | None = None,
    ) -> None:
        self._settings = settings
        self._config = config
        self._database = database
        self._store = store

    async def digest(self, *, title: str, since: float, until: float) -> SpendDigest:
        cloud = {name for name, node in self._settings.nodes.items() if node.is_cloud}
        return await collect_digest(await self._database(), title=title, since=since,
                                    until=until, cloud_nodes=cloud)

    async def message(
        self, *, title: str, since: float, until: float, chart: bool = True,
        with_incidents: bool = False,
    ) -> ChiefMessage:
        digest = await self.digest(title=title, since=since, until=until)
        target = self._config.report.local_share_target
        png = await asyncio.to_thread(render_spend_chart, digest, target=target) if chart else None
        incidents = await self._incidents(since, until) if with_incidents else None
        return compose_report(digest, zone=self._config.zone, target=target, chart=png,
                              incidents=incidents)

    async def for_job(self, job_id: str, slot: float) -> ChiefMessage:
        """The report of a scheduled slot: the day (or week) that ended at ``slot``."""
        if job_id == WEEKLY_JOB:
            return await self.message(title="Weekly summary", since=slot - 7 * DAY,
                                      until=slot, with_incidents=True)
        return await self.message(title="Daily spend report", since=slot - DAY, until=slot)

    async def _incidents(self, since: float, until: float) -> list[Incident]:
        if self._store is None:
            return []
        history = await (await self._store()).history(since=since, limit=1000)
        return [i for i in history if i.opened_at < until]
