"""Shared health: replicas tell each other which nodes they find down, through Redis.

When this replica's circuit of a node leaves *closed* (it opens), :class:`SharedHealth`
publishes a "down" report on the channel ``{prefix}:health:db{N}`` (pub/sub is not
scoped by database, so the database number is part of the name) and stores it under the
key ``{prefix}:health:down:{node}:{replica}`` with a TTL of ``health.shared_ttl``, renewed
every third of it while the circuit stays open or half-open, so a replica that starts
later reads the current state. When the circuit closes again it publishes "up" and deletes
the key. Reports from the other replicas go to the local :class:`HealthBoard`, which skips
a node while any unexpired report says it is down (see :mod:`inference.health`).

There are no echo loops: a remote report never changes the local circuit, and only local
circuit changes are published. Without Redis (unreachable at start or later) health stays
local, with one warning per outage; the sync reconnects by itself and then republishes
this replica's current view.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from inference.config import HealthConfig, mask_url_password
from inference.health import CircuitState, HealthBoard, NodeHealth

__all__ = ["HealthReport", "SharedHealth", "default_replica_name"]

log = logging.getLogger(__name__)

_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 10.0
_COMMAND_TIMEOUT_S = 2.0


def default_replica_name() -> str:
    """``host:pid:random``: unique per process, readable in a skip reason."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One message on the shared-health channel (and the value of a "down" key)."""

    replica: str
    node: str
    down: bool
    detail: str = ""
    ttl: float = 0.0

    def dumps(self) -> str:
        return json.dumps({"v": 1, "replica": self.replica, "node": self.node,
                           "down": self.down, "detail": self.detail, "ttl": self.ttl})

    @classmethod
    def loads(cls, raw: str | bytes) -> HealthReport:
        """Raises ``ValueError`` for anything that is not a report of this version."""
        data: Any = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("not a shared-health report")
        replica, node, down = data.get("replica"), data.get("node"), data.get("down")
        detail, ttl = data.get("detail", ""), data.get("ttl", 0.0)
        if not (isinstance(replica, str) and isinstance(node, str) and isinstance(down, bool)
                and isinstance(detail, str) and isinstance(ttl, int | float)):
            raise ValueError("malformed shared-health report")
        return cls(replica, node, down, detail, float(ttl))


class SharedHealth:
    """Keeps one board in step with the other replicas' boards (run it as a task)."""

    def __init__(
        self,
        board: HealthBoard,
        url: str,
        *,
        prefix: str = "homecrew",
        ttl: float = 10.0,
        replica: str | None = None,
        retry_first: float = _RETRY_FIRST_S,
    ) -> None:
        self.replica = replica or default_replica_name()
        self.failed_attempts = 0  # connections to Redis that failed (or broke), in all
        self._retry_first = retry_first
        self._board = board
        self._url = url
        self._prefix = prefix
        self._ttl = ttl
        self._outbox: asyncio.Queue[HealthReport] = asyncio.Queue()
        self._announced: set[str] = set()  # nodes this replica last reported down
        self._connected = asyncio.Event()
        self._warned = False

    @classmethod
    def for_config(cls, board: HealthBoard, config: HealthConfig,
                   replica: str | None = None) -> SharedHealth:
        if config.shared_redis_url is None:
            raise ValueError("health.shared_redis_url is not set")
        return cls(board, config.shared_redis_url, prefix=config.shared_prefix,
                   ttl=config.shared_ttl, replica=replica)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Until the sync is subscribed and has read the others' current reports."""
        await self._connected.wait()

    async def run(self) -> None:
        """Sync until cancelled; Redis outages degrade to local health and are retried."""
        self._board.add_listener(self._on_change)
        delay = self._retry_first
        try:
            while True:
                failure = await self._session()
                if self._connected.is_set():  # it was up a while: retry soon
                    self._connected.clear()
                    delay = self._retry_first
                if failure is None:
                    continue
                self.failed_attempts += 1
                if not self._warned:
                    self._warned = True
                    log.warning("shared health: Redis at %s unreachable (%s); node health "
                                "stays local to this replica until it is back",
                                mask_url_password(self._url), failure)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
        finally:
            self._board.remove_listener(self._on_change)

    # -- one connection ------------------------------------------------------------------
    async def _session(self) -> str | None:
        """Connect and sync until Redis fails; returns a short description of the failure."""
        failure: str | None = None
        try:
            async with self._redis() as (commands, listener):
                pubsub = listener.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(self._channel(commands))
                    await self._resync(commands)
                    if self._warned:
                        log.info("shared health: Redis is back; sharing node health again")
                        self._warned = False
                    self._connected.set()
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._listen(pubsub), name="shared-health-listen")
                        group.create_task(self._publish(commands), name="shared-health-publish")
                        group.create_task(self._renew(), name="shared-health-renew")
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
        except* (RedisError, OSError) as group:
            failure = _describe(group.exceptions[0])
        return failure

    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
        """A client for commands (bounded waits) and one for the subscription (idle ok)."""
        commands = aioredis.Redis.from_url(
            self._url, socket_timeout=_COMMAND_TIMEOUT_S,
            socket_connect_timeout=_COMMAND_TIMEOUT_S, retry_on_timeout=False)
        listener = aioredis.Redis.from_url(
            self._url, socket_connect_timeout=_COMMAND_TIMEOUT_S, health_check_interval=15)
        try:
            yield commands, listener
        finally:
            await commands.aclose()
            await listener.aclose()

    def _channel(self, client: aioredis.Redis) -> str:
        db = client.connection_pool.connection_kwargs.get("db", 0)
        return f"{self._prefix}:health:db{db}"

    def _key(self, node: str, replica: str) -> str:
        return f"{self._prefix}:health:down:{node}:{replica}"

    async def _resync(self, client: aioredis.Redis) -> None:
        """Read the others' current reports, then republish this replica's own view."""
        async for raw_key in client.scan_iter(match=f"{self._prefix}:health:down:*", count=200):
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            raw, ttl_ms = await client.get(key), await client.pttl(key)
            if raw is None or ttl_ms is None or ttl_ms <= 0:
                continue
            with contextlib.suppress(ValueError):
                report = HealthReport.loads(raw)
                if report.replica != self.replica:
                    self._board.report_remote(report.node, report.replica, down=True,
                                              detail=report.detail, ttl=ttl_ms / 1000)
        while not self._outbox.empty():
            self._outbox.get_nowait()  # superseded by the current view below
        for node in self._board.nodes:
            if self._board.locally_down(node):
                await self._send(client, self._down_report(self._board.get(node)))
            elif node in self._announced:
                await self._send(client, HealthReport(self.replica, node, down=False))

    async def _listen(self, pubsub: PubSub) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                report = HealthReport.loads(message["data"])
            except ValueError:
                log.debug("shared health: ignored a malformed message")
                continue
            if report.replica == self.replica:
                continue  # our own, back from the channel
            self._board.report_remote(report.node, report.replica, down=report.down,
                                      detail=report.detail, ttl=report.ttl)
        raise ConnectionError("subscription ended")

    async def _publish(self, client: aioredis.Redis) -> None:
        while True:
            report = await self._outbox.get()
            await self._send(client, report)

    async def _renew(self) -> None:
        """Renew the reports of nodes still down here before they expire elsewhere."""
        while True:
            await asyncio.sleep(self._ttl / 3)
            for node in self._board.nodes:
                if self._board.locally_down(node):
                    self._outbox.put_nowait(self._down_report(self._board.get(node)))

    async def _send(self, client: aioredis.Redis, report: HealthReport) -> None:
        key = self._key(report.node, self.replica)
        async with client.pipeline(transaction=False) as pipe:
            if report.down:
                pipe.set(key, report.dumps(), px=max(1, round(self._ttl * 1000)))
            else:
                pipe.delete(key)
            pipe.publish(self._channel(client), report.dumps())
            await pipe.execute()
        if report.down:
            self._announced.add(report.node)
        else:
            self._announced.discard(report.node)

    # -- local changes -------------------------------------------------------------------
    def _on_change(self, before: NodeHealth, after: NodeHealth) -> None:
        closed = CircuitState.CLOSED
        if before.state is closed and after.state is not closed:
            self._outbox.put_nowait(self._down_report(after))
        elif before.state is not closed and after.state is closed:
            self._outbox.put_nowait(HealthReport(self.replica, after.name, down=False))

    def _down_report(self, health: NodeHealth) -> HealthReport:
        return HealthReport(self.replica, health.name, down=True,
                            detail=(health.last_error or "node down")[:200], ttl=self._ttl)


def _describe(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0][:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
