"""A raw HTTP/1.1 server for client tests: each test's handler writes the exact bytes of
its answers, and the server counts connections and records requests."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable

__all__ = ["CHUNKED_HEAD", "Handler", "Peer", "Serve", "Server", "answering", "chunked",
           "hanging_up", "reply"]


class Peer:
    """One accepted connection, as the test's handler sees it."""

    def __init__(self, server: Server, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server, self.reader, self.writer = server, reader, writer
        self.index = len(server.peers)
        self.eof = asyncio.Event()  # the client closed its side
        self.closed = asyncio.Event()  # this side is closed too

    async def request(self) -> bytes | None:
        """The next request (head and body), or None once the client has closed."""
        cut: bytes | None = None
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            cut = exc.partial
        if cut is not None:
            assert not cut, f"a cut request: {cut!r}"
            self.eof.set()
            return None
        length = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
        assert length is not None, head
        request = head + await self.reader.readexactly(int(length[1]))
        self.server.requests.append(request)
        return request

    async def send(self, data: bytes, piece: int = 0) -> None:
        """Write ``data``; in ``piece``-byte writes, each read by the client on its own."""
        for start in range(0, len(data), piece or len(data) or 1):
            self.writer.write(data[start:start + (piece or len(data))])
            await self.writer.drain()
            if piece:
                for _ in range(3):  # the client's read callback runs before our next write
                    await asyncio.sleep(0)

    async def until_eof(self) -> None:
        while await self.reader.read(65536):
            pass
        self.eof.set()


Handler = Callable[[Peer], Awaitable[None]]


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.peers: list[Peer] = []
        self.requests: list[bytes] = []
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def connections(self) -> int:
        return len(self.peers)

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def start(self, tls: ssl.SSLContext | None) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self, reader, writer)
        self.peers.append(peer)
        self._tasks.add(asyncio.get_running_loop().create_task(self._serve(peer)))

    async def _serve(self, peer: Peer) -> None:
        try:
            await self.handler(peer)
        except ConnectionError:
            pass
        finally:
            peer.writer.close()
            await peer.writer.wait_closed()
            peer.closed.set()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        for outcome in outcomes:  # a handler's own failure (an assertion) fails the test
            if isinstance(outcome, Exception) and not isinstance(outcome, ConnectionError):
                raise outcome


Serve = Callable[..., Awaitable[Server]]


def reply(body: bytes = b"ok", *, status: bytes = b"200 OK", head: bytes = b"",
          version: bytes = b"HTTP/1.1") -> bytes:
    return b"%s %s\r\nContent-Length: %d\r\n%s\r\n%s" % (version, status, len(body), head, body)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(*pieces: bytes, trailers: bytes = b"") -> bytes:
    body = b"".join(b'%X;name="v"\r\n%s\r\n' % (len(piece), piece) for piece in pieces)
    return CHUNKED_HEAD + body + b"0;last\r\n" + trailers + b"\r\n"


def answering(*replies: bytes, piece: int = 0) -> Handler:
    """Answer each request, on any connection, with the next reply (the last one repeats)."""
    queue = list(replies)

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(queue.pop(0) if len(queue) > 1 else queue[0], piece)
    return handler


def hanging_up(data: bytes) -> Handler:
    """Answer the first request with ``data``, then close the connection."""
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(data)
    return handler
