"""Keep-alive connections per origin, one request at a time on each."""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from inference.http._connection import Connection
from inference.http._errors import HttpError, StaleConnection
from inference.http._framing import MAX_HEAD
from inference.http._response import MAX_BODY, Response

__all__ = ["HttpPool", "Origin"]


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @staticmethod
    def split(url: str) -> tuple[Origin, str]:
        """The origin of ``url`` and the request target (path and query)."""
        return _split(url)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@functools.lru_cache(maxsize=64)  # a set-up has a handful of node URLs
def _split(url: str) -> tuple[Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise HttpError(f"bad port in {url!r}") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, port), target


def _nothing() -> None:
    pass


class HttpPool:
    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 max_idle_per_origin: int = 64, idle_timeout: float = 15.0,
                 max_body: int = MAX_BODY, clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        # per origin: (connection, when it went idle), most recent last
        self._idle: defaultdict[Origin, list[tuple[Connection, float]]] = defaultdict(list)
        self._ssl = ssl_context
        self._max_idle = max_idle_per_origin
        self._idle_timeout = idle_timeout  # older idle connections may be dead: not reused
        self._clock = clock
        self._max_body = max_body
        self._open: set[Connection] = set()

    @asynccontextmanager
    async def post(self, url: str, body: bytes, headers: Mapping[str, str], *,
                   connect_timeout: float, on_sent: Callable[[], None] = _nothing,
                   ) -> AsyncIterator[Response]:
        """Send ``body``; the response once its head has arrived. ``on_sent`` is called
        each time the request is handed to a socket (twice when a stale keep-alive
        connection made it go again). Leaving the block returns the connection to the
        pool when the body was read to its end, and closes it otherwise."""
        origin, target = Origin.split(url)
        request = _request_head(origin, target, headers, len(body)) + body
        response = await self._send(origin, request, connect_timeout, on_sent)
        try:
            yield response
        finally:
            self._release(origin, response)

    async def aclose(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    async def _send(self, origin: Origin, request: bytes, connect_timeout: float,
                    on_sent: Callable[[], None]) -> Response:
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return await self._exchange(conn, request, on_sent)
            except StaleConnection:
                self._drop(conn)
        conn = await self._connect(origin, connect_timeout)
        try:
            return await self._exchange(conn, request, on_sent)
        except BaseException:
            self._drop(conn)
            raise

    async def _exchange(self, conn: Connection, request: bytes,
                        on_sent: Callable[[], None]) -> Response:
        """Write the request; the response once its head (past any 1xx) is read."""
        reused, conn.used = conn.used, True
        assert conn.transport is not None
        conn.transport.write(request)
        on_sent()
        try:
            head = await conn.read_until(b"\r\n\r\n", MAX_HEAD)
        except HttpError:
            if reused and not conn.buffer:
                raise StaleConnection("the idle connection was closed by the server"
                                      ) from None
            raise
        version, status, headers = _parse_head(head)
        while 100 <= status < 200:  # interim answers (100 Continue, 103 Early Hints)
            version, status, headers = _parse_head(await conn.read_until(b"\r\n\r\n",
                                                                         MAX_HEAD))
        keep_alive = version == "HTTP/1.1" and "close" not in headers.get(
            "connection", "").lower()
        return Response(conn, status, headers, keep_alive=keep_alive,
                        max_body=self._max_body)

    def _take_idle(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        oldest = self._clock() - self._idle_timeout
        while idle:
            conn, since = idle.pop()
            if conn.reusable and since >= oldest:
                return conn
            self._drop(conn)
        return None

    async def _connect(self, origin: Origin, limit_s: float) -> Connection:
        loop = asyncio.get_running_loop()
        context = None
        if origin.scheme == "https":
            context = self._ssl or ssl.create_default_context()
        try:
            async with asyncio.timeout(limit_s):
                _, conn = await loop.create_connection(
                    Connection, origin.host, origin.port, ssl=context,
                    server_hostname=origin.host if context else None)
        except TimeoutError:
            raise
        except OSError as exc:  # ssl.SSLError is one
            raise HttpError(f"cannot connect to {origin.host}:{origin.port}: {exc}") from None
        self._open.add(conn)
        return conn

    def _release(self, origin: Origin, response: Response) -> None:
        response.finish_if_buffered()
        idle = self._idle[origin]
        if response.reusable and len(idle) < self._max_idle:
            idle.append((response.connection, self._clock()))
        else:
            self._drop(response.connection)

    def _drop(self, conn: Connection) -> None:
        conn.close()
        self._open.discard(conn)


def _request_head(origin: Origin, target: str, headers: Mapping[str, str],
                  length: int) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"Host: {origin.host_header}",
             f"Content-Length: {length}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    status_line, _, raw = head.partition(b"\r\n")
    parts = status_line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (
            parts[1].isascii() and parts[1].isdigit() and len(parts[1]) == 3):
        raise HttpError(f"not an HTTP/1.x status line: {status_line[:60]!r}")
    return parts[0], int(parts[1]), _headers(raw)


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(f"bad header line {line[:60]!r}")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
