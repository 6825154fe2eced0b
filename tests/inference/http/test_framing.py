"""How the client reads bodies: framing, malformed answers, limits, back-pressure."""

from __future__ import annotations

import asyncio

import pytest

from inference.http import HttpError, HttpPool
from tests.support.raw_http import (
    CHUNKED_HEAD,
    Peer,
    Serve,
    answering,
    chunked,
    fetch,
    hanging_up,
    reply,
)

pytestmark = pytest.mark.timeout(20)


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


