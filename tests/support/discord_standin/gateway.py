"""The gateway: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME + replay, dispatch."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .events import (
    DispatchSent,
    GatewayConnected,
    GatewayDisconnected,
    GatewayIdentified,
    GatewayResumed,
    HeartbeatReceived,
    MembersRequested,
    PresenceUpdated,
)
from .gateway_session import PRIVILEGED_INTENTS, GatewaySession, deliverable, frame
from .payloads import guild_create_payload, member_payload, user_payload
from .recorder import Recorder
from .world import World

__all__ = ["Gateway"]

JSON = dict[str, Any]


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    session: GatewaySession | None = None
    last_heartbeat: float | None = None
    closed_by_server: bool = False


class Gateway:
    def __init__(self, world: World, recorder: Recorder) -> None:
        self._world = world
        self._config = world.config
        self._recorder = recorder
        self.sessions: list[GatewaySession] = []
        self._connections: list[_Connection] = []
        self.url = ""
        self.resume_url = ""

    # -- test-facing -----------------------------------------------------------------------------

    @property
    def current(self) -> GatewaySession | None:
        live = [s for s in self.sessions if not s.invalid]
        return live[-1] if live else None

    def is_connected(self) -> bool:
        return any(s.ws is not None and not s.ws.closed for s in self.sessions if not s.invalid)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send a DISPATCH to every valid session (buffered while its socket is down)."""
        for session in list(self.sessions):
            if session.invalid:
                continue
            body = deliverable(
                session, event, data, bot_id=self._world.bot_user.id,
                enforce=self._config.enforce_intents,
            )
            if body is None:
                continue
            async with session.lock:
                await self._push(session, event, body)

    async def drop(self, *, code: int = 4000, abrupt: bool = False) -> int:
        """Close every session's socket from the server side; sessions stay resumable."""
        dropped = []
        for session in self.sessions:
            async with session.lock:
                ws, session.ws = session.ws, None
            if ws is not None and not ws.closed:
                dropped.append(ws)
        for conn in self._connections:
            if conn.ws in dropped:
                conn.closed_by_server = True
        for ws in dropped:
            await self._close_ws(ws, code, abrupt)
        return len(dropped)

    async def send_op(self, op: int, data: Any, *, invalidate: bool = False) -> None:
        """Send a raw opcode (7 RECONNECT, 9 INVALID_SESSION, 1 HEARTBEAT) to live sockets."""
        for session in self.sessions:
            if session.ws is not None and not session.ws.closed:
                await session.ws.send_str(frame(None, None, data, op))
            if invalidate:
                session.invalid = True

    async def close_all(self) -> None:
        for conn in list(self._connections):
            conn.closed_by_server = True
            await self._close_ws(conn.ws, 1001, abrupt=False)

    # -- the socket

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Connection(ws, request.transport)
        self._connections.append(conn)
        self._recorder.record(GatewayConnected(path=request.path, query=dict(request.query)))
        hello = {"heartbeat_interval": self._config.heartbeat_interval_ms, "_trace": ["standin"]}
        await ws.send_str(frame(None, None, hello, op=10))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
        finally:
            self._connections.remove(conn)
            session = conn.session
            if session is not None and session.ws is ws:
                session.ws = None
            self._recorder.record(
                GatewayDisconnected(
                    session_id=None if session is None else session.id,
                    code=ws.close_code, by_server=conn.closed_by_server,
                )
            )
        return ws

    async def _on_frame(self, conn: _Connection, message: JSON) -> None:
        op, raw = message.get("op"), message.get("d")
        if op == 1:
            await self._heartbeat(conn, raw if isinstance(raw, int) else None)
            return
        data: JSON = raw if isinstance(raw, dict) else {}
        if op == 2:
            await self._identify(conn, data)
        elif op == 6:
            await self._resume(conn, data)
        elif op == 3:
            self._recorder.record(
                PresenceUpdated(status=data.get("status"), activities=data.get("activities") or [])
            )
        elif op == 8:
            await self._request_members(conn, data)
        elif op != 4:
            await self._close_ws(conn.ws, 4001, abrupt=False)

    async def _heartbeat(self, conn: _Connection, client_seq: int | None) -> None:
        received = time.monotonic()
        interval = None if conn.last_heartbeat is None else received - conn.last_heartbeat
        conn.last_heartbeat = received
        if self._config.heartbeat_ack_delay > 0:
            await asyncio.sleep(self._config.heartbeat_ack_delay)
        if not conn.ws.closed:
            await conn.ws.send_str(json.dumps({"op": 11}))
        self._recorder.record(
            HeartbeatReceived(
                session_id=None if conn.session is None else conn.session.id,
                client_seq=client_seq, interval=interval,
                ack_latency=time.monotonic() - received,
            )
        )

    async def _identify(self, conn: _Connection, data: JSON) -> None:
        if conn.session is not None:
            await self._close_ws(conn.ws, 4005, abrupt=False)
            return
        if data.get("token") != self._config.token:
            await self._close_ws(conn.ws, 4004, abrupt=False)
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await self._close_ws(conn.ws, 4013, abrupt=False)
            return
        if intents & PRIVILEGED_INTENTS and not self._config.allow_privileged_intents:
            await self._close_ws(conn.ws, 4014, abrupt=False)
            return
        session = GatewaySession(uuid.uuid4().hex, intents, shard=data.get("shard"), ws=conn.ws)
        conn.session = session
        async with session.lock:
            self.sessions.append(session)
            self._recorder.record(
                GatewayIdentified(
                    session_id=session.id, intents=intents,
                    properties=dict(data.get("properties") or {}),
                )
            )
            await self._push(session, "READY", self._ready_payload(session))
            await self._push(session, "GUILD_CREATE", guild_create_payload(self._world))

    def _ready_payload(self, session: GatewaySession) -> JSON:
        world = self._world
        user = user_payload(world.bot_user) | {"verified": True, "mfa_enabled": False, "flags": 0}
        payload: JSON = {
            "v": 10,
            "user": user,
            "guilds": [{"id": str(world.guild_id), "unavailable": True}],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url,
            "application": {
                "id": str(world.application_id), "flags": self._config.application_flags
            },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "_trace": ["standin"],
        }
        if session.shard is not None:
            payload["shard"] = session.shard
        return payload

    async def _resume(self, conn: _Connection, data: JSON) -> None:
        if data.get("token") != self._config.token:
            await self._close_ws(conn.ws, 4004, abrupt=False)
            return
        session = next((s for s in self.sessions if s.id == data.get("session_id")), None)
        if session is None or session.invalid:
            await conn.ws.send_str(frame(None, None, False, op=9))
            return
        client_seq = int(data.get("seq") or 0)
        async with session.lock:
            old, session.ws = session.ws, conn.ws
            conn.session = session
            missed = session.missed_since(client_seq)
            for seq, event, body in missed:
                await self._send(session, seq, event, body, replay=True)
            session.resumes += 1
            self._recorder.record(
                GatewayResumed(session_id=session.id, client_seq=client_seq, replayed=len(missed))
            )
            await self._push(session, "RESUMED", {"_trace": ["standin"]})
        if old is not None and old is not conn.ws and not old.closed:
            await self._close_ws(old, 4000, abrupt=False)

    async def _request_members(self, conn: _Connection, data: JSON) -> None:
        nonce = data.get("nonce")
        self._recorder.record(MembersRequested(guild_id=int(data.get("guild_id", 0)), nonce=nonce))
        session = conn.session
        if session is None:
            return
        query = str(data.get("query") or "")
        wanted = {int(u) for u in data.get("user_ids") or []}
        members = [
            member_payload(u) for u in self._world.users.values()
            if (not wanted or u.id in wanted) and u.name.startswith(query)
        ]
        limit = int(data.get("limit") or 0)
        chunk = {
            "guild_id": str(self._world.guild_id),
            "members": members[:limit] if limit else members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": nonce,
        }
        async with session.lock:
            await self._push(session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- sending

    async def _push(self, session: GatewaySession, event: str, data: JSON) -> None:
        """Caller holds `session.lock`."""
        seq = session.next_seq()
        session.backlog.append((seq, event, data))
        await self._send(session, seq, event, data, replay=False)

    async def _send(
        self, session: GatewaySession, seq: int, event: str, data: JSON, *, replay: bool
    ) -> None:
        ws = session.ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_str(frame(seq, event, data))
        except (ConnectionResetError, RuntimeError):
            return
        self._recorder.record(
            DispatchSent(session_id=session.id, seq=seq, event=event, data=data, replay=replay)
        )

    async def _close_ws(self, ws: web.WebSocketResponse, code: int, abrupt: bool) -> None:
        for conn in self._connections:
            if conn.ws is ws:
                conn.closed_by_server = True
                if abrupt and conn.transport is not None:
                    conn.transport.abort()
                    return
        if not ws.closed:
            await ws.close(code=code, message=b"standin")
