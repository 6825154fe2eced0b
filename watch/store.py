"""Chief's records in the ledger's store: incident history and report runs.

Report runs are claimed per (job, scheduled slot) before the report is made, so that a
restart neither skips a report (an unclaimed past slot is run on start) nor posts it twice
(a claimed slot is never run again unless its run failed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from store import Database, Migration, Row, apply_migrations
from watch.incidents import Incident
from watch.results import Status

__all__ = ["WATCH_MIGRATIONS", "JobRun", "WatchStore"]

WATCH_MIGRATIONS = (
    Migration(1, """
        CREATE TABLE watch_incidents (
            id TEXT PRIMARY KEY,
            subject TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            detail TEXT NOT NULL,
            first_failed_at DOUBLE PRECISION NOT NULL,
            opened_at DOUBLE PRECISION NOT NULL,
            last_notified_at DOUBLE PRECISION NOT NULL,
            reminders INTEGER NOT NULL,
            closed_at DOUBLE PRECISION,
            numbers TEXT NOT NULL
        );
        CREATE INDEX watch_incidents_opened ON watch_incidents (opened_at);
        CREATE TABLE watch_job_runs (
            job_id TEXT NOT NULL,
            slot DOUBLE PRECISION NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            status TEXT NOT NULL,
            PRIMARY KEY (job_id, slot)
        )
    """),
)
_COLUMNS = ("id", "subject", "severity", "title", "detail", "first_failed_at", "opened_at",
            "last_notified_at", "reminders", "closed_at", "numbers")
_UPSERT = (
    f"INSERT INTO watch_incidents ({', '.join(_COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "id")
)


@dataclass(frozen=True, slots=True)
class JobRun:
    job_id: str
    slot: float
    started_at: float
    finished_at: float | None
    status: str  # running | done | failed


class WatchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, db: Database) -> WatchStore:
        await apply_migrations(db, "watch", WATCH_MIGRATIONS)
        return cls(db)

    # -- incidents -----------------------------------------------------------------------
    async def save(self, incident: Incident) -> None:
        await self.db.execute(
            _UPSERT, incident.id, incident.subject, incident.severity.label, incident.title,
            incident.detail, float(incident.first_failed_at), float(incident.opened_at),
            float(incident.last_notified_at), incident.reminders,
            None if incident.closed_at is None else float(incident.closed_at),
            json.dumps(dict(incident.numbers)),
        )

    async def open_incidents(self) -> list[Incident]:
        rows = await self.db.fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM watch_incidents WHERE closed_at IS NULL "
            "ORDER BY opened_at")
        return [_incident(r) for r in rows]

    async def history(self, *, since: float | None = None, limit: int = 50) -> list[Incident]:
        """Newest first."""
        rows = await self.db.fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM watch_incidents WHERE opened_at >= $1 "
            "ORDER BY opened_at DESC LIMIT $2", float(since or 0.0), limit)
        return [_incident(r) for r in rows]

    # -- report runs ---------------------------------------------------------------------
    async def claim_run(self, job_id: str, slot: float, now: float) -> bool:
        """Claim ``(job_id, slot)``; False when it already ran (or is running)."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "SELECT status FROM watch_job_runs WHERE job_id = $1 AND slot = $2",
                job_id, float(slot))
            if rows and rows[0]["status"] != "failed":
                return False
            await tx.execute("DELETE FROM watch_job_runs WHERE job_id = $1 AND slot = $2",
                             job_id, float(slot))
            await tx.execute(
                "INSERT INTO watch_job_runs (job_id, slot, started_at, finished_at, status) "
                "VALUES ($1, $2, $3, NULL, 'running')", job_id, float(slot), float(now))
        return True

    async def finish_run(self, job_id: str, slot: float, now: float, *, ok: bool) -> None:
        await self.db.execute(
            "UPDATE watch_job_runs SET finished_at = $1, status = $2 "
            "WHERE job_id = $3 AND slot = $4",
            float(now), "done" if ok else "failed", job_id, float(slot))

    async def last_run(self, job_id: str) -> JobRun | None:
        rows = await self.db.fetch(
            "SELECT job_id, slot, started_at, finished_at, status FROM watch_job_runs "
            "WHERE job_id = $1 ORDER BY slot DESC LIMIT 1", job_id)
        if not rows:
            return None
        row = rows[0]
        finished = row["finished_at"]
        return JobRun(str(row["job_id"]), float(row["slot"]), float(row["started_at"]),
                      None if finished is None else float(finished), str(row["status"]))

    async def ran(self, job_id: str, slot: float) -> bool:
        rows = await self.db.fetch(
            "SELECT status FROM watch_job_runs WHERE job_id = $1 AND slot = $2",
            job_id, float(slot))
        return bool(rows) and rows[0]["status"] != "failed"


def _incident(row: Row) -> Incident:
    closed = row["closed_at"]
    return Incident(
        id=str(row["id"]), subject=str(row["subject"]), severity=Status.parse(row["severity"]),
        title=str(row["title"]), detail=str(row["detail"]),
        first_failed_at=float(row["first_failed_at"]), opened_at=float(row["opened_at"]),
        last_notified_at=float(row["last_notified_at"]), reminders=int(row["reminders"]),
        closed_at=None if closed is None else float(closed),
        numbers={str(k): float(v) for k, v in json.loads(row["numbers"]).items()},
    )
