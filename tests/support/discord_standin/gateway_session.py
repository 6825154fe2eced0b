"""Gateway sessions (sequence numbers, backlog for RESUME) and per-session intent filtering."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "DIRECT_MESSAGES",
    "GUILDS",
    "GUILD_MEMBERS",
    "GUILD_MESSAGES",
    "GUILD_PRESENCES",
    "MESSAGE_CONTENT",
    "PRIVILEGED_INTENTS",
    "GatewaySession",
    "deliverable",
    "frame",
]

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

_MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"}
_GUILD_EVENTS = {"THREAD_CREATE", "THREAD_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE"}
_CONTENT_FIELDS = ("embeds", "attachments", "components")

JSON = dict[str, Any]


@dataclass
class GatewaySession:
    """One identified session; survives dropped sockets until RESUMEd or invalidated."""

    id: str
    intents: int
    shard: list[int] | None = None
    seq: int = 0
    backlog: list[tuple[int, str, JSON]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    invalid: bool = False
    resumes: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def missed_since(self, client_seq: int) -> list[tuple[int, str, JSON]]:
        return [entry for entry in self.backlog if entry[0] > client_seq]


def frame(seq: int | None, event: str | None, data: Any, op: int = 0) -> str:
    return json.dumps({"op": op, "s": seq, "t": event, "d": data})


def deliverable(
    session: GatewaySession, event: str, data: JSON, *, bot_id: int, enforce: bool
) -> JSON | None:
    """What this session receives for a dispatch, or None if its intents exclude it."""
    if not enforce:
        return data
    intents = session.intents
    in_guild = "guild_id" in data
    if event in _MESSAGE_EVENTS and not intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES):
        return None
    if event in _GUILD_EVENTS and not intents & GUILDS:
        return None
    if event in {"MESSAGE_CREATE", "MESSAGE_UPDATE"} and in_guild and not intents & MESSAGE_CONTENT:
        return _without_content(data, bot_id)
    return data


def _without_content(data: JSON, bot_id: int) -> JSON:
    author_id = int(data.get("author", {}).get("id", 0))
    mentioned = any(int(m.get("id", 0)) == bot_id for m in data.get("mentions", []))
    if author_id == bot_id or mentioned:
        return data
    stripped = dict(data)
    stripped["content"] = ""
    for key in _CONTENT_FIELDS:
        stripped[key] = []
    return stripped
