"""Conversation history in the store, keyed by an opaque conversation id.

A *turn* is one message from a person and the agent replies to it (Skip's turn also holds
the specialists' sub-task answers). Messages that did not complete, or that a retry
replaced, stay in the table for the record but never reach a prompt again.

Turns of one conversation may run at the same time (several people asking one agent at
once). Each message gets its ``seq`` when it is stored, so a person's message marks when
the turn arrived; :meth:`ConversationLog.messages` reads them turn by turn, in the order
the turns arrived (a turn's messages together, even when its reply was stored after a
later question), and ``upto`` gives the conversation as it stood when a turn arrived.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from store import Database, Row
from team.store import team_statement
from team.tokens import estimate_tokens

__all__ = ["ConversationLog", "MessageRole", "MessageStatus", "StoredMessage"]

MessageRole = Literal["user", "agent"]
MessageStatus = Literal["complete", "cancelled", "halted", "refused", "failed", "superseded"]
_COLUMNS = "conversation_id, seq, ts, role, agent, author, content, status, tokens, turn_id"
# One statement: the next seq is read and taken together.
_TURN_ORDER = (
    "JOIN (SELECT turn_id, MIN(seq) AS first_seq FROM team_messages WHERE conversation_id = $1 "
    "GROUP BY turn_id) t ON t.turn_id = m.turn_id"
)
_APPEND = (
    f"INSERT INTO team_messages ({_COLUMNS}) SELECT $1, COALESCE(MAX(seq), 0) + 1, "
    "$2, $3, $4, $5, $6, $7, $8, $9 FROM team_messages WHERE conversation_id = $1 "
    "RETURNING seq"
)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    conversation_id: str
    seq: int
    ts: float
    role: MessageRole
    agent: str | None  # the replying agent, or the agent a person addressed
    author: str | None
    content: str
    status: MessageStatus
    tokens: int
    turn_id: str


def _message(row: Row) -> StoredMessage:
    return StoredMessage(
        conversation_id=row["conversation_id"], seq=int(row["seq"]), ts=float(row["ts"]),
        role=cast(MessageRole, row["role"]), agent=row["agent"], author=row["author"],
        content=row["content"], status=cast(MessageStatus, row["status"]),
        tokens=int(row["tokens"]), turn_id=row["turn_id"],
    )


class ConversationLog:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def append(
        self, conversation_id: str, *, role: MessageRole, agent: str | None,
        author: str | None, content: str, turn_id: str, status: MessageStatus = "complete",
    ) -> StoredMessage:
        ts, tokens = self._clock(), estimate_tokens(content)
        async with team_statement(self._db) as db:
            seq = await db.fetchval(_APPEND, conversation_id, ts, role, agent, author, content,
                                    status, tokens, turn_id)
        return StoredMessage(conversation_id, int(seq), ts, role, agent, author, content,
                             status, tokens, turn_id)

    async def messages(
        self, conversation_id: str, *, complete_only: bool = True, limit: int | None = None,
        upto: int | None = None,
    ) -> list[StoredMessage]:
        """Oldest first, turn by turn; the newest ``limit`` when given; only what was stored
        up to ``seq == upto`` when given (the conversation as it stood then)."""
        where = "m.conversation_id = $1" + (" AND m.status = 'complete'" if complete_only else "")
        args: list[object] = [conversation_id]
        if upto is not None:
            where += " AND m.seq <= $2"
            args.append(upto)
        columns = ", ".join(f"m.{c.strip()}" for c in _COLUMNS.split(","))
        sql = (f"SELECT {columns} FROM team_messages m {_TURN_ORDER} WHERE {where} "
               "ORDER BY t.first_seq DESC, m.seq DESC")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = await self._db.fetch(sql, *args)
        return [_message(r) for r in reversed(rows)]

    async def last_turn(self, conversation_id: str) -> StoredMessage | None:
        """The latest message a person sent (the start of the latest turn)."""
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM team_messages WHERE conversation_id = $1 AND role = 'user' "
            "AND status = 'complete' ORDER BY seq DESC LIMIT 1", conversation_id,
        )
        return _message(rows[0]) if rows else None

    async def supersede(self, conversation_id: str, turn_id: str) -> None:
        """Retire the agent replies of a turn (before regenerating them)."""
        await self._db.execute(
            "UPDATE team_messages SET status = 'superseded' WHERE conversation_id = $1 "
            "AND turn_id = $2 AND role = 'agent'", conversation_id, turn_id,
        )

    async def forget(self, conversation_id: str) -> None:
        """Drop a conversation's history from prompts (kept, marked superseded)."""
        await self._db.execute(
            "UPDATE team_messages SET status = 'superseded' WHERE conversation_id = $1",
            conversation_id,
        )
