"""Rows of the task tables ↔ the task dataclasses (no rules here; see :mod:`team.board`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from store import Database, Row
from team.errors import UnknownTask
from team.tasks import Artifact, ClaimCheck, Decision, SignOff, Task, TaskFile, TaskState

__all__ = [
    "insert_artifact",
    "insert_signoff",
    "insert_task",
    "load_file",
    "load_task",
    "select_tasks",
    "update_state",
]

_TASK_COLUMNS = (
    "id, kind, title, owner, areas, state, created_by, created_at, updated_at, conversation_id"
)


def _task(row: Row) -> Task:
    return Task(
        id=int(row["id"]), kind=row["kind"], title=row["title"], owner=row["owner"],
        areas=tuple(json.loads(row["areas"])), state=cast(TaskState, row["state"]),
        created_by=row["created_by"], created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]), conversation_id=row["conversation_id"],
    )


def _artifact(row: Row) -> Artifact:
    return Artifact(
        task_id=int(row["task_id"]), kind=row["kind"], version=int(row["version"]),
        content=row["content"], sha256=row["sha256"], created_by=row["created_by"],
        created_at=float(row["created_at"]),
    )


def _signoff(row: Row) -> SignOff:
    claims = tuple(ClaimCheck(c["claim"], c["verdict"], c.get("note", ""))
                   for c in json.loads(row["claims"]))
    return SignOff(
        task_id=int(row["task_id"]), seq=int(row["seq"]), signer=row["signer"],
        topic=row["topic"], decision=cast(Decision, row["decision"]),
        artifact_kind=row["artifact_kind"], artifact_sha256=row["artifact_sha256"],
        notes=row["notes"], claims=claims, actor=row["actor"], ts=float(row["ts"]),
    )


async def load_task(db: Database, task_id: int) -> Task:
    rows = await db.fetch(f"SELECT {_TASK_COLUMNS} FROM team_tasks WHERE id = $1", task_id)
    if not rows:
        raise UnknownTask(task_id)
    return _task(rows[0])


async def load_file(db: Database, task_id: int) -> TaskFile:
    task = await load_task(db, task_id)
    arts = await db.fetch(
        "SELECT task_id, kind, version, content, sha256, created_by, created_at "
        "FROM team_artifacts WHERE task_id = $1 ORDER BY kind, version", task_id,
    )
    signs = await db.fetch(
        "SELECT task_id, seq, signer, topic, decision, artifact_kind, artifact_sha256, notes, "
        "claims, actor, ts FROM team_signoffs WHERE task_id = $1 ORDER BY seq", task_id,
    )
    current = {a.kind: a for a in map(_artifact, arts)}  # later versions win
    return TaskFile(task, current, tuple(_signoff(r) for r in signs))


async def select_tasks(
    db: Database, *, states: Sequence[str] = (), owner: str | None = None
) -> list[Task]:
    clauses: list[str] = []
    args: list[Any] = []
    if states:
        marks = ", ".join(f"${len(args) + i + 1}" for i in range(len(states)))
        clauses.append(f"state IN ({marks})")
        args.extend(states)
    if owner is not None:
        args.append(owner)
        clauses.append(f"owner = ${len(args)}")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetch(f"SELECT {_TASK_COLUMNS} FROM team_tasks {where} ORDER BY id", *args)
    return [_task(r) for r in rows]


async def insert_task(
    tx: Database, *, kind: str, title: str, owner: str, areas: Sequence[str],
    created_by: str, ts: float, conversation_id: str | None,
) -> Task:
    last = await tx.fetchval("SELECT MAX(id) FROM team_tasks")
    task = Task(int(last or 0) + 1, kind, title, owner, tuple(areas), "new", created_by, ts, ts,
                conversation_id)
    await tx.execute(
        f"INSERT INTO team_tasks ({_TASK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        "$10)",
        task.id, kind, title, owner, json.dumps(list(areas)), task.state, created_by, ts, ts,
        conversation_id,
    )
    return task


async def update_state(tx: Database, task: Task, state: TaskState, ts: float) -> Task:
    await tx.execute("UPDATE team_tasks SET state = $1, updated_at = $2 WHERE id = $3",
                     state, ts, task.id)
    return Task(task.id, task.kind, task.title, task.owner, task.areas, state, task.created_by,
                task.created_at, ts, task.conversation_id)


async def insert_artifact(
    tx: Database, *, task_id: int, kind: str, content: str, sha256: str, created_by: str,
    ts: float,
) -> Artifact:
    last = await tx.fetchval(
        "SELECT MAX(version) FROM team_artifacts WHERE task_id = $1 AND kind = $2", task_id, kind
    )
    art = Artifact(task_id, kind, int(last or 0) + 1, content, sha256, created_by, ts)
    await tx.execute(
        "INSERT INTO team_artifacts (task_id, kind, version, content, sha256, created_by, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        task_id, kind, art.version, content, sha256, created_by, ts,
    )
    return art


async def insert_signoff(
    tx: Database, *, task_id: int, signer: str, topic: str, decision: Decision,
    artifact: Artifact | None, notes: str, claims: Sequence[ClaimCheck], actor: str, ts: float,
) -> SignOff:
    last = await tx.fetchval("SELECT MAX(seq) FROM team_signoffs WHERE task_id = $1", task_id)
    sign = SignOff(task_id, int(last or 0) + 1, signer, topic, decision,
                   artifact.kind if artifact else None, artifact.sha256 if artifact else None,
                   notes, tuple(claims), actor, ts)
    await tx.execute(
        "INSERT INTO team_signoffs (task_id, seq, signer, topic, decision, artifact_kind, "
        "artifact_sha256, notes, claims, actor, ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "$9, $10, $11)",
        task_id, sign.seq, signer, topic, decision, sign.artifact_kind, sign.artifact_sha256,
        notes, json.dumps([{"claim": c.claim, "verdict": c.verdict, "note": c.note}
                           for c in claims]),
        actor, ts,
    )
    return sign
