"""The HTTP/1.1 client of the native edge against raw loopback servers that write exact bytes:
body framing, keep-alive reuse, stale connections, malformed answers, TLS and back-pressure.

How the native caller uses it (and maps its errors) is in ``test_native.py``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from inference.http import HttpError, HttpPool, Origin
from tests.support.standins import refused_url

pytestmark = pytest.mark.timeout(20)


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


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[Server] = []

    async def start(handler: Handler, *, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler)
        await server.start(tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def pool() -> AsyncIterator[HttpPool]:
    client = HttpPool()
    yield client
    await client.aclose()


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


async def fetch(pool: HttpPool, url: str, *, as_lines: bool = False) -> list[bytes]:
    async with pool.post(url, b"hi", {}, connect_timeout=2) as response:
        assert response.status == 200
        if as_lines:
            return [line async for line in response.lines()]
        return [await response.read()]


# -- body framing ----------------------------------------------------------------------------

@pytest.mark.parametrize("as_lines", [False, True])
async def test_sized_body(pool: HttpPool, serve: Serve, as_lines: bool) -> None:
    head = b"X-Thing: one\r\nx-thing: two\r\nContent-Type: text/plain\r\n"
    server = await serve(answering(reply(b"a\n\nbb\nccc", head=head)))
    async with pool.post(server.url(), b"hi", {}, connect_timeout=2) as response:
        assert response.status == 200
        assert response.headers["x-thing"] == "one, two"
        assert response.headers["content-type"] == "text/plain"
        assert response.headers["content-length"] == "9"
        if as_lines:
            assert [line async for line in response.lines()] == [b"a\n", b"\n", b"bb\n", b"ccc"]
        else:
            assert await response.read() == b"a\n\nbb\nccc"


@pytest.mark.parametrize("piece", [0, 1, 3])
async def test_chunked_body(pool: HttpPool, serve: Serve, piece: int) -> None:
    answer = chunked(b"data: o", b"ne\ndata: two\nda", b"ta: three\n\n" + b"x" * 20, b"tail",
                     trailers=b"X-Checksum: 1234\r\nX-Other: 5\r\n")
    server = await serve(answering(answer, piece=piece))
    expected = [b"data: one\n", b"data: two\n", b"data: three\n", b"\n", b"x" * 20 + b"tail"]
    assert await fetch(pool, server.url(), as_lines=True) == expected
    assert await fetch(pool, server.url()) == [b"".join(expected)]
    assert server.connections == 1  # the trailers were read: the next answer parsed cleanly


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
async def test_bodiless_statuses_keep_the_connection(
    pool: HttpPool, serve: Serve, status: bytes
) -> None:
    server = await serve(answering(b"HTTP/1.1 " + status + b"\r\n\r\n", reply(b"after")))
    async with pool.post(server.url(), b"", {}, connect_timeout=2) as response:
        assert response.status == int(status[:3])
        assert await response.read() == b""
    assert await fetch(pool, server.url()) == [b"after"]
    assert server.connections == 1


@pytest.mark.parametrize("as_lines", [False, True])
async def test_body_until_close(pool: HttpPool, serve: Serve, as_lines: bool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst\nsec", 4)
        await peer.send(b"ond\nlast", 2)
        peer.writer.write_eof()
        await peer.until_eof()

    server = await serve(handler)
    got = await fetch(pool, server.url(), as_lines=as_lines)
    assert got == ([b"first\n", b"second\n", b"last"] if as_lines else [b"first\nsecond\nlast"])
    await asyncio.wait_for(server.peers[0].eof.wait(), 5)  # the client closed its side too
    await fetch(pool, server.url(), as_lines=as_lines)
    assert server.connections == 2


# -- keep-alive ------------------------------------------------------------------------------

async def test_sequential_requests_share_one_connection(pool: HttpPool, serve: Serve) -> None:
    server = await serve(answering(reply(b"one"), reply(b""), chunked(b"three"), reply(b"four")))
    got = [await fetch(pool, server.url()) for _ in range(4)]
    assert got == [[b"one"], [b""], [b"three"], [b"four"]]
    assert server.connections == 1


@pytest.mark.parametrize("answer", [
    reply(head=b"Connection: close\r\n"),
    reply(head=b"Connection: Keep-Alive, Close\r\n"),
    reply(version=b"HTTP/1.0"),
], ids=["connection-close", "close-in-a-list", "http-1.0"])
async def test_answers_that_end_the_connection(
    pool: HttpPool, serve: Serve, answer: bytes
) -> None:
    server = await serve(answering(answer))  # the server itself would go on answering
    assert await fetch(pool, server.url()) == [b"ok"]
    assert await fetch(pool, server.url()) == [b"ok"]
    assert server.connections == 2
    await asyncio.wait_for(server.peers[0].eof.wait(), 5)


@pytest.mark.parametrize(("partial", "rest"), [
    (reply(b"a\nbc\n")[:-3], b"bc\n"),
    (CHUNKED_HEAD + b"4\r\na\nbc", b"\r\n0\r\n\r\n"),  # the chunk's CRLF not here yet
    (CHUNKED_HEAD + b"4\r\na\nbc\r\n", b"0\r\n\r\n"),
], ids=["sized", "chunked", "chunked-crlf"])
async def test_unfinished_body_closes_the_connection(
    pool: HttpPool, serve: Serve, partial: bytes, rest: bytes
) -> None:
    async def handler(peer: Peer) -> None:
        if peer.index == 0:
            await peer.request()
            await peer.send(partial)
            if await peer.reader.read(1):  # the client sent its next request on this one
                await peer.send(rest + reply(b"on the old connection"))
            await peer.until_eof()
        else:
            await answering(reply(b"fresh"))(peer)

    server = await serve(handler)
    async with pool.post(server.url(), b"hi", {}, connect_timeout=2) as response:
        async for line in response.lines():
            assert line == b"a\n"
            break
    assert await fetch(pool, server.url()) == [b"fresh"]
    assert server.connections == 2
    await asyncio.wait_for(server.peers[0].eof.wait(), 5)


@pytest.mark.parametrize(("answer", "stop"), [
    (reply(b"a\nb\nc\n"), b"a\n"),
    (reply(b"a\nb\nc\n"), None),
    (CHUNKED_HEAD + b"0\r\n\r\n", None),
    (chunked(b"data: 1\n", b"data: [DONE]\n"), b"data: [DONE]\n"),  # native's end marker
], ids=["sized-first-line", "sized-unread", "chunked-empty-unread", "chunked-sse-done"])
async def test_buffered_rest_of_body_keeps_the_connection(
    pool: HttpPool, serve: Serve, answer: bytes, stop: bytes | None
) -> None:
    server = await serve(answering(answer, reply(b"second")))  # each answer in one write
    async with pool.post(server.url(), b"hi", {}, connect_timeout=2) as response:
        if stop is not None:
            async for line in response.lines():
                if line == stop:
                    break
            else:
                pytest.fail(f"no {stop!r} line")
    assert await fetch(pool, server.url()) == [b"second"]
    assert server.connections == 1


async def test_max_idle_per_origin(serve: Serve) -> None:
    both_in = asyncio.Event()

    async def handler(peer: Peer) -> None:
        if peer.index == 1:
            both_in.set()
        await both_in.wait()  # the first two requests are in flight together
        await answering(reply())(peer)

    server = await serve(handler)
    client = HttpPool(max_idle_per_origin=1)
    try:
        for _ in range(2):
            await asyncio.gather(fetch(client, server.url()), fetch(client, server.url()))
    finally:
        await client.aclose()
    assert server.connections == 3  # one of the first two was kept, the other closed


# -- closed connections ----------------------------------------------------------------------

@pytest.mark.parametrize("when", ["while-idle", "on-the-next-request"])
async def test_stale_idle_connection_is_replaced(pool: HttpPool, serve: Serve, when: str) -> None:
    async def handler(peer: Peer) -> None:
        if peer.index > 0:
            return await answering(reply(b"second"))(peer)
        await peer.request()
        await peer.send(reply(b"first"))
        if when == "on-the-next-request":
            await peer.request()  # then hang up without a byte of answer
        return None

    server = await serve(handler)
    assert await fetch(pool, server.url()) == [b"first"]
    if when == "while-idle":
        await asyncio.wait_for(server.peers[0].closed.wait(), 5)
    async with pool.post(server.url(), b"again", {}, connect_timeout=2) as response:
        assert await response.read() == b"second"
    assert server.connections == 2
    assert server.requests[-1].endswith(b"\r\n\r\nagain")
    if when == "on-the-next-request":
        assert server.requests[1] == server.requests[2]


@pytest.mark.parametrize(("reused", "partial"), [
    (False, b""),
    (False, b"HTTP/1.1 200 OK\r\nContent-Le"),
    (False, reply(b"0123456789")[:-7]),
    (False, CHUNKED_HEAD + b"5\r\nab"),
    (False, CHUNKED_HEAD + b"5\r\nabcde\r\n"),
    (True, b"HTTP/1"),
    (True, reply(b"0123456789")[:-7]),
], ids=["fresh-no-answer", "fresh-mid-head", "fresh-mid-body", "fresh-mid-chunk",
        "fresh-between-chunks", "reused-mid-head", "reused-mid-body"])
async def test_closing_mid_answer_is_an_error(
    pool: HttpPool, serve: Serve, reused: bool, partial: bytes
) -> None:
    async def handler(peer: Peer) -> None:
        if reused and peer.index == 0:
            await peer.request()
            await peer.send(reply(b"first"))
        elif peer.index > 0:  # a retry, which must not happen
            return await answering(reply(b"retried"))(peer)
        await peer.request()
        await peer.send(partial)
        return None

    server = await serve(handler)
    if reused:
        await fetch(pool, server.url())
    with pytest.raises(HttpError, match="server closed the connection"):
        await fetch(pool, server.url())
    assert server.connections == 1


# -- malformed answers -----------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "message"), [
    (b"HTTP/2 200 OK\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n", "not an HTTP/1.x status line"),
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "bad Content-Length"),
    (CHUNKED_HEAD + b"zz\r\nab\r\n0\r\n\r\n", "bad chunk size"),
    (CHUNKED_HEAD + b"-2\r\n", "bad chunk size"),
    (CHUNKED_HEAD + b"3\r\nabcXY0\r\n\r\n", "a chunk not followed by CRLF"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000, "a line longer than 65536 bytes"),
], ids=["http2", "no-code", "not-http", "no-colon", "space-before-colon", "folded",
        "length-not-a-number", "negative-length", "chunk-size-not-hex",
        "negative-chunk-size", "chunk-without-crlf", "head-too-long"])
async def test_malformed_answer(pool: HttpPool, serve: Serve, answer: bytes, message: str
                                ) -> None:
    server = await serve(hanging_up(answer))
    with pytest.raises(HttpError, match=message):
        await fetch(pool, server.url())


@pytest.mark.parametrize(("as_lines", "body", "message"), [
    (False, b"x" * 17, "a body longer than 16 bytes"),
    (True, b"x" * 17, "a line longer than 16 bytes"),
    (True, b"x" * 10 + b"\n" + b"y" * 17, "a line longer than 16 bytes"),
    (False, b"x" * 16, None),
    (True, b"x" * 15 + b"\n" + b"y" * 16, None),
])
async def test_max_body(serve: Serve, as_lines: bool, body: bytes, message: str | None) -> None:
    server = await serve(answering(reply(body)))
    client = HttpPool(max_body=16)
    try:
        if message is None:
            assert b"".join(await fetch(client, server.url(), as_lines=as_lines)) == body
        else:
            with pytest.raises(HttpError, match=message):
                await fetch(client, server.url(), as_lines=as_lines)
    finally:
        await client.aclose()


# -- the request -----------------------------------------------------------------------------

async def test_on_sent_is_called_before_the_answer(pool: HttpPool, serve: Serve) -> None:
    go_on = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        await go_on.wait()
        await peer.send(reply(b"late"))

    server = await serve(handler)
    sent = asyncio.get_running_loop().create_future()
    calls: list[None] = []

    def on_sent() -> None:
        calls.append(None)
        if not sent.done():
            sent.set_result(None)

    async def call() -> bytes:
        async with pool.post(server.url(), b"hi", {}, connect_timeout=2,
                             on_sent=on_sent) as response:
            return await response.read()

    task = asyncio.create_task(call())
    await asyncio.wait_for(sent, 5)
    assert not task.done() and len(calls) == 1
    go_on.set()
    assert await asyncio.wait_for(task, 5) == b"late"
    assert len(calls) == 1


async def test_request_on_the_wire(pool: HttpPool, serve: Serve) -> None:
    server = await serve(answering(reply()))
    body = b'{"prompt": "h\xc3\xa9"}\r\n\x00\xff'
    headers = {"Content-Type": "application/json", "Authorization": "Bearer k-1"}
    async with pool.post(server.url("/v1/chat/completions?stream=1&x=%20y#frag"), body,
                         headers, connect_timeout=2) as response:
        await response.read()
    async with pool.post(server.url(""), b"", {}, connect_timeout=2) as response:
        await response.read()
    host = f"127.0.0.1:{server.port}".encode()
    assert server.requests == [
        b"POST /v1/chat/completions?stream=1&x=%20y HTTP/1.1\r\nHost: " + host
        + b"\r\nContent-Length: %d\r\nContent-Type: application/json\r\n" % len(body)
        + b"Authorization: Bearer k-1\r\n\r\n" + body,
        b"POST / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 0\r\n\r\n",
    ]


@pytest.mark.parametrize(("url", "origin", "target", "host"), [
    ("http://node.lan/v1", Origin("http", "node.lan", 80), "/v1", "node.lan"),
    ("http://node.lan:8080", Origin("http", "node.lan", 8080), "/", "node.lan:8080"),
    ("http://node.lan:443/", Origin("http", "node.lan", 443), "/", "node.lan:443"),
    ("https://node.lan/a?b=1#c", Origin("https", "node.lan", 443), "/a?b=1", "node.lan"),
    ("https://node.lan:80/", Origin("https", "node.lan", 80), "/", "node.lan:80"),
    ("HTTPS://Node.LAN:8443/x", Origin("https", "node.lan", 8443), "/x", "node.lan:8443"),
    ("http://[::1]:11434/api/chat", Origin("http", "::1", 11434), "/api/chat", "[::1]:11434"),
    ("https://[fe80::1]/", Origin("https", "fe80::1", 443), "/", "[fe80::1]"),
    ("http://10.0.0.7:80/", Origin("http", "10.0.0.7", 80), "/", "10.0.0.7"),
])
def test_origin(url: str, origin: Origin, target: str, host: str) -> None:
    assert Origin.split(url) == (origin, target)
    assert origin.host_header == host


@pytest.mark.parametrize("url", [
    "ftp://node.lan/", "node.lan/v1", "/v1/chat", "unix:///tmp/sock", "http:///v1",
    "http://node.lan:99999/", "http://node.lan:port/",
])
async def test_not_an_http_url(pool: HttpPool, url: str) -> None:
    with pytest.raises(HttpError):
        Origin.split(url)
    with pytest.raises(HttpError):
        await fetch(pool, url)


# -- connecting ------------------------------------------------------------------------------

async def test_connection_refused(pool: HttpPool) -> None:
    with pytest.raises(HttpError, match=r"cannot connect to 127\.0\.0\.1"):
        await fetch(pool, refused_url() + "/v1")


async def test_connect_timeout(pool: HttpPool, unanswered_port: int) -> None:
    try:
        async with asyncio.timeout(0.3):
            _, writer = await asyncio.open_connection("127.0.0.1", unanswered_port)
        writer.close()
        pytest.skip("this kernel completes connections beyond a full accept queue")
    except TimeoutError:
        pass
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        async with pool.post(f"http://127.0.0.1:{unanswered_port}/", b"", {},
                             connect_timeout=0.2):
            pass
    assert loop.time() - started < 2


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
async def tls_server(serve: Serve, certificate: tuple[Path, Path]) -> Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return await serve(answering(chunked(b"over ", b"tls\n")), tls=context)


async def test_tls_with_a_trusted_certificate(
    tls_server: Server, certificate: tuple[Path, Path]
) -> None:
    client = HttpPool(ssl_context=ssl.create_default_context(cafile=certificate[0]))
    try:
        for _ in range(2):
            assert await fetch(client, tls_server.url(scheme="https")) == [b"over tls\n"]
    finally:
        await client.aclose()
    assert tls_server.connections == 1
    assert tls_server.requests[0].startswith(b"POST / HTTP/1.1\r\n")


async def test_tls_with_an_untrusted_certificate(pool: HttpPool, tls_server: Server) -> None:
    with pytest.raises(HttpError, match="CERTIFICATE_VERIFY_FAILED"):
        await fetch(pool, tls_server.url(scheme="https"))
    assert not tls_server.requests


# -- back-pressure and closing ---------------------------------------------------------------

@pytest.mark.parametrize("framing", ["sized", "chunked"])
async def test_large_body_is_read_intact(pool: HttpPool, serve: Serve, framing: str) -> None:
    lines = [b"line %07d %s\n" % (n, b"." * (n % 50)) for n in range(85_000)]  # 3.1 MiB
    body = b"".join(lines)
    assert len(body) > 3 * 1024 * 1024
    if framing == "sized":
        answer = reply(body)
    else:
        step = 100_000
        answer = chunked(*(body[i:i + step] for i in range(0, len(body), step)))
    server = await serve(answering(answer, reply(b"next")))
    got: list[bytes] = []
    async with pool.post(server.url(), b"hi", {}, connect_timeout=2) as response:
        async for line in response.lines():
            got.append(line)
            if len(got) % 64 == 0:  # a consumer with work of its own: the socket runs ahead
                await asyncio.sleep(0)
    assert got == lines
    assert await fetch(pool, server.url()) == [b"next"]
    assert await fetch(pool, server.url()) == [b"next"]  # and the socket is read again
    assert server.connections == 1


async def test_large_body_read_whole(pool: HttpPool, serve: Serve) -> None:
    body = bytes(range(256)) * (3 * 4096)
    server = await serve(answering(reply(body)))
    assert await fetch(pool, server.url()) == [body]


async def test_aclose_closes_idle_connections(pool: HttpPool, serve: Serve) -> None:
    server = await serve(answering(reply(), reply(b"again")))
    await fetch(pool, server.url())
    assert not server.peers[0].eof.is_set()
    await pool.aclose()
    await asyncio.wait_for(server.peers[0].eof.wait(), 5)
    assert await fetch(pool, server.url()) == [b"again"]  # the pool still works afterwards
    assert server.connections == 2
