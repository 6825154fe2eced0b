"""The client's connections: keep-alive reuse, stale and closed connections, the request on
the wire, connecting, TLS and closing the pool.

How the native caller uses it (and maps its errors) is in ``tests/inference/test_native.py``.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from inference.http import HttpError, HttpPool, Origin
from tests.support.raw_http import (
    CHUNKED_HEAD,
    Peer,
    Serve,
    Server,
    answering,
    chunked,
    fetch,
    reply,
)
from tests.support.standins import refused_url

pytestmark = pytest.mark.timeout(20)


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


async def test_an_old_idle_connection_is_not_reused(serve: Serve) -> None:
    now = [100.0]
    server = await serve(answering(reply()))
    client = HttpPool(idle_timeout=15.0, clock=lambda: now[0])
    try:
        await fetch(client, server.url())
        now[0] += 14.0
        await fetch(client, server.url())  # idle 14 s: reused
        assert server.connections == 1
        now[0] += 15.5
        await fetch(client, server.url())  # idle 15.5 s: maybe dead behind a NAT, not reused
    finally:
        await client.aclose()
    assert server.connections == 2
    await server.peers[0].eof.wait()  # the old one was closed


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



async def test_aclose_closes_idle_connections(pool: HttpPool, serve: Serve) -> None:
    server = await serve(answering(reply(), reply(b"again")))
    await fetch(pool, server.url())
    assert not server.peers[0].eof.is_set()
    await pool.aclose()
    await asyncio.wait_for(server.peers[0].eof.wait(), 5)
    assert await fetch(pool, server.url()) == [b"again"]  # the pool still works afterwards
    assert server.connections == 2

