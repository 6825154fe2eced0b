"""Network faults below HTTP: a server that never answers, a port that refuses connections.

Failures that speak HTTP (500s, a stream cut after the first token, an error mid-stream) are
:class:`~tests.support.standins.script.Script` failure modes of the protocol stand-ins.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

__all__ = ["BlackholeServer", "refused_port", "refused_url", "unanswered_port"]


def refused_port(host: str = "127.0.0.1") -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def refused_url(host: str = "127.0.0.1") -> str:
    return f"http://{host}:{refused_port(host)}"


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A listening port whose accept queue is full, so new connections never complete."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()


class _Sink(asyncio.Protocol):
    """Reads and discards everything, never writes."""

    def __init__(self, owner: BlackholeServer) -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._owner._accepted(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._owner._lost(self._transport)

    def data_received(self, data: bytes) -> None:
        self._owner.bytes_received += len(data)


class BlackholeServer:
    """A TCP server on loopback that accepts connections and never writes a byte.

    ``connections`` counts accepted connections; everything is closed on exit.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Transport] = set()
        self._changed = asyncio.Event()
        self.connections = 0
        self.bytes_received = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("blackhole server is not running")
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Start listening; after a ``stop()`` this starts again on the same port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Sink(self), self._host, self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for transport in list(self._open):
            transport.abort()
        await server.wait_closed()

    async def wait_for_connections(self, count: int) -> None:
        """Wait until ``count`` connections were accepted (unbounded: use ``asyncio.timeout``)."""
        while self.connections < count:
            await self._changed.wait()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _accepted(self, transport: asyncio.Transport) -> None:
        self._open.add(transport)
        self.connections += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def _lost(self, transport: asyncio.Transport) -> None:
        self._open.discard(transport)
