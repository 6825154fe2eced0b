"""The append-only audit log: who did what, when, under which policy version, and why.

Each entry's ``hash`` is the SHA-256 of its own fields plus the previous entry's hash, so
editing, inserting or deleting an entry anywhere but the tail breaks the chain that
:func:`verify_chain` walks. (Truncating the tail is only visible against a head hash kept
elsewhere: :class:`ChainReport` gives it.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from inference.store import Database, Row

__all__ = [
    "GENESIS",
    "AuditAction",
    "AuditEntry",
    "ChainReport",
    "append_entry",
    "list_entries",
    "verify_chain",
]

GENESIS = "0" * 64
AuditAction = Literal[
    "task_created", "request", "transition", "signoff", "veto", "artifact", "halt",
    "resume", "override", "tool_call",
]
_COLUMNS = "seq, ts, actor, action, task_id, policy_version, reason, detail, prev_hash, hash"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    ts: float
    actor: str
    action: str
    task_id: int | None
    policy_version: int
    reason: str
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "ts": self.ts, "actor": self.actor, "action": self.action,
            "task_id": self.task_id, "policy_version": self.policy_version,
            "reason": self.reason, "detail": dict(self.detail), "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(row: Mapping[str, Any], detail_text: str) -> str:
    material = _canonical([
        row["seq"], repr(float(row["ts"])), row["actor"], row["action"], row["task_id"],
        row["policy_version"], row["reason"], detail_text, row["prev_hash"],
    ])
    return hashlib.sha256(material.encode()).hexdigest()


async def append_entry(
    tx: Database,
    *,
    ts: float,
    actor: str,
    action: AuditAction,
    policy_version: int,
    task_id: int | None = None,
    reason: str = "",
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry; call inside :func:`team.store.team_transaction`."""
    last = await tx.fetch("SELECT seq, hash FROM team_audit ORDER BY seq DESC LIMIT 1")
    seq = int(last[0]["seq"]) + 1 if last else 1
    prev = str(last[0]["hash"]) if last else GENESIS
    detail_text = _canonical(dict(detail or {}))
    row: dict[str, Any] = {
        "seq": seq, "ts": ts, "actor": actor, "action": action, "task_id": task_id,
        "policy_version": policy_version, "reason": reason, "prev_hash": prev,
    }
    digest = _digest(row, detail_text)
    await tx.execute(
        f"INSERT INTO team_audit ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        seq, ts, actor, action, task_id, policy_version, reason, detail_text, prev, digest,
    )
    return _entry({**row, "detail": detail_text, "hash": digest})


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        seq=int(row["seq"]), ts=float(row["ts"]), actor=row["actor"], action=row["action"],
        task_id=None if row["task_id"] is None else int(row["task_id"]),
        policy_version=int(row["policy_version"]), reason=row["reason"],
        detail=json.loads(row["detail"]), prev_hash=row["prev_hash"], hash=row["hash"],
    )


async def list_entries(
    db: Database, *, task_id: int | None = None, limit: int | None = None
) -> list[AuditEntry]:
    """Entries oldest first (the newest ``limit`` ones when a limit is given)."""
    where = "WHERE task_id = $1" if task_id is not None else ""
    args: list[Any] = [task_id] if task_id is not None else []
    sql = f"SELECT {_COLUMNS} FROM team_audit {where} ORDER BY seq DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    rows = await db.fetch(sql, *args)
    return [_entry(r) for r in reversed(rows)]


async def verify_chain(db: Database, *, page: int = 1000) -> ChainReport:
    """Recompute every hash and link; the first entry that does not match is reported."""
    prev, expected, count = GENESIS, 1, 0
    while True:
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM team_audit WHERE seq >= $1 ORDER BY seq LIMIT {int(page)}",
            expected,
        )
        for row in rows:
            if int(row["seq"]) != expected:
                return ChainReport(False, count, prev, expected, f"entry {expected} is missing")
            problem = _check(row, prev)
            if problem is not None:
                return ChainReport(False, count, prev, expected, problem)
            prev, expected, count = row["hash"], expected + 1, count + 1
        if len(rows) < page:
            return ChainReport(True, count, prev)


def _check(row: Row, prev: str) -> str | None:
    if row["prev_hash"] != prev:
        return "its link to the previous entry is broken"
    if _digest(row, row["detail"]) != row["hash"]:
        return "its content does not match its hash"
    return None
