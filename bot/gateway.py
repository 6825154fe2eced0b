"""The gateway connection, supervised: reconnect after anything, quickly, and give up only
on a crash loop.

discord.py's ``Client.connect`` reconnects after network errors, but

* an exception raised while parsing an event (e.g. a ``TypeError`` from a member whose
  ``roles`` are objects) escapes it and ends ``Client.start`` — and the process;
* its ``ExponentialBackoff`` keeps growing across separate outages (52 s was seen);
* ``connect(reconnect=False)`` closes the whole client (HTTP session included) on the
  first error, so it cannot simply be called again from an outer loop.

So :class:`GatewaySupervisor` runs the same connect/poll loop as ``Client.connect``
(``DiscordWebSocket.from_client`` + ``poll_event``, RESUME after a drop, IDENTIFY after an
invalidated session) with two changes: the delay between attempts comes from a
:class:`~bot.backoff.Backoff` capped at ``discord.reconnect_max_delay`` and reset as soon as
READY or RESUMED arrives, and any other exception is a *crash*: logged with the event type
only (never the payload, which can hold user text or secrets), the socket is closed and the
session resumed. ``discord.max_gateway_crashes`` crashes within ``discord.crash_window``
seconds raise :class:`GatewayCrashLoop`, and ``homecrew bot`` exits non-zero so systemd's
restart policy applies.

The event type is known because :func:`guard_parsers` wraps each of discord.py's event
parsers (``ConnectionState.parsers``, which the websocket looks events up in) so that a
failure is re-raised as :class:`GatewayEventError` naming the event. Wrapping the parser
table is the least invasive hook discord.py offers: no private method is overridden, and
a parser that works costs one extra function call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
from discord.gateway import DiscordWebSocket, ReconnectWebSocket

from bot.backoff import Backoff

__all__ = [
    "CrashCounter",
    "GatewayCrashLoop",
    "GatewayEventError",
    "GatewaySupervisor",
    "guard_parsers",
]

log = logging.getLogger(__name__)
Parser = Callable[[Any], None]
_HANDSHAKE_S = 10.0  # a connect that hangs (Discord half back) is given up and retried
_CONNECTED_EVENTS = frozenset({"READY", "RESUMED"})
_NETWORK_ERRORS = (OSError, discord.HTTPException, discord.GatewayNotFound,
                   discord.ConnectionClosed, aiohttp.ClientError, TimeoutError)
_RESET_BY_PEER = (54, 10054)


class GatewayEventError(Exception):
    """discord.py could not handle one gateway event (its type only; never its payload)."""

    def __init__(self, event: str, cause: BaseException) -> None:
        self.event = event
        self.where = _where(cause)
        super().__init__(f"{event}: {type(cause).__name__}{self.where}")


class GatewayCrashLoop(Exception):
    """Too many unexpected gateway errors within the crash window."""


def _where(exc: BaseException) -> str:
    """`` at discord/member.py:312 in _update`` (the innermost frame: no values)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    path = "/".join(last.filename.replace("\\", "/").split("/")[-2:])
    return f" at {path}:{last.lineno} in {last.name}"


def guard_parsers(parsers: dict[str, Parser], on_connected: Callable[[], None]) -> None:
    """Wrap every parser in place: failures name their event; READY/RESUMED call
    ``on_connected`` once parsed."""
    for event, parser in list(parsers.items()):
        after = on_connected if event in _CONNECTED_EVENTS else None
        parsers[event] = _guarded(event, parser, after)


def _guarded(event: str, parser: Parser, after: Callable[[], None] | None) -> Parser:
    def parse(data: Any) -> None:
        try:
            parser(data)
        except Exception as exc:
            raise GatewayEventError(event, exc) from exc
        if after is not None:
            after()

    return parse


@dataclass
class CrashCounter:
    """Crashes within the last ``window`` seconds."""

    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _times: deque[float] = field(default_factory=deque)

    def record(self) -> int:
        now = self.clock()
        self._times.append(now)
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        return len(self._times)


class GatewaySupervisor:
    def __init__(self, client: discord.Client, *, backoff: Backoff,
                 crashes: CrashCounter) -> None:
        self._client = client
        self.backoff = backoff
        self.crashes = crashes
        self._stopping = asyncio.Event()
        self.crash_count = 0  # since start (for /status)
        self.recent_delays: deque[float] = deque(maxlen=32)  # the last reconnect delays
        self.last_crash: str | None = None

    def connected(self) -> None:
        """READY or RESUMED came: the next outage starts from the shortest delay again."""
        self.backoff.reset()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, *, reconnect: bool = True) -> None:
        client = self._client
        params: dict[str, Any] = {"initial": True, "shard_id": client.shard_id}
        while not client.is_closed():
            try:
                client.ws = await asyncio.wait_for(
                    DiscordWebSocket.from_client(client, **params), timeout=_HANDSHAKE_S)
                params["initial"] = False
                while True:
                    await client.ws.poll_event()
            except ReconnectWebSocket as exc:
                client.dispatch("disconnect")
                params.update(self._next_params(resume=exc.resume))
            except _NETWORK_ERRORS as exc:
                client.dispatch("disconnect")
                if client.is_closed():
                    return
                if not reconnect or _fatal(exc):
                    await client.close()
                    if isinstance(exc, discord.ConnectionClosed) and exc.code == 1000:
                        return  # a clean close
                    if isinstance(exc, discord.ConnectionClosed) and exc.code == 4014:
                        raise discord.PrivilegedIntentsRequired(exc.shard_id) from None
                    raise
                if not (isinstance(exc, OSError) and exc.errno in _RESET_BY_PEER):
                    await self._pause(f"gateway connection lost ({type(exc).__name__})")
                params.update(self._next_params(resume=True))
            except Exception as exc:  # supervised: see the module docstring
                client.dispatch("disconnect")
                if client.is_closed():
                    return
                self._crashed(exc)
                await self._close_socket()
                params.update(self._next_params(resume=True))

    def _next_params(self, *, resume: bool) -> dict[str, Any]:
        ws: DiscordWebSocket | None = self._client.ws  # None until the first connection
        if ws is None:  # never connected: identify again
            return {"resume": False}
        can_resume = resume and ws.session_id is not None
        return {"sequence": ws.sequence, "session": ws.session_id, "resume": can_resume,
                "gateway": ws.gateway}

    async def _pause(self, why: str) -> None:
        delay = self.backoff.delay()
        self.recent_delays.append(delay)
        log.warning("%s; reconnecting in %.2f s", why, delay)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stopping.wait()

    def _crashed(self, exc: Exception) -> None:
        what = (f"gateway event {exc}" if isinstance(exc, GatewayEventError)
                else f"gateway error {type(exc).__name__}{_where(exc)}")
        self.crash_count += 1
        self.last_crash = what
        count = self.crashes.record()
        limit, window = self.crashes.limit, self.crashes.window
        if count >= limit:
            log.error("%s; %d unexpected gateway errors within %g s: giving up", what,
                      count, window)
            raise GatewayCrashLoop(f"{count} unexpected gateway errors within {window:g} s "
                                   f"(last: {what})") from None
        log.error("%s could not be handled; reconnecting (the bot stops at %d such errors "
                  "within %g s; %d so far)", what, limit, window, count)

    async def _close_socket(self) -> None:
        ws = self._client.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(code=4000)


def _fatal(exc: BaseException) -> bool:
    """A close code discord.py does not reconnect after (bad token, intents, sharding)."""
    return isinstance(exc, discord.ConnectionClosed) and exc.code != 1000
