"""The native edge's HTTP, against raw loopback servers that write exact bytes: keep-alive,
the request-sent signal, proxies from the environment, TLS per node, and regressions for
the defects of the hand-written client it replaced (each must be a clear step error, never
a hang, a header injection or a reused broken connection)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from inference.errors import NodeUnavailable
from inference.native import NativeCaller
from inference.sent import notify_when_sent
from inference.step import Step
from tests.inference.test_native import failure, run, step_on
from tests.support.raw_http import CHUNKED_HEAD, Peer, Serve, Server, answering, reply
from tests.support.tls import Certificate

KEY = "sk-local-7d1e"
EVENTS = (b'data: {"choices": [{"delta": {"content": "hi there"}, "finish_reason": "stop"}]}\n\n'
          b"data: [DONE]\n\n")


def answer(body: bytes = EVENTS, *, head: bytes = b"") -> bytes:
    return reply(body, head=b"Content-Type: text/event-stream\r\n" + head)


def chunk(piece: bytes) -> bytes:
    return b"%X\r\n%s\r\n" % (len(piece), piece)


def node(server: Server, scheme: str = "http", **settings: Any) -> Step:
    return step_on("openai", server.url("/v1", scheme=scheme).rstrip("/"), **settings)


# -- keep-alive and the request-sent signal --------------------------------------------------

async def test_sequential_requests_share_one_connection(caller: NativeCaller, serve: Serve
                                                        ) -> None:
    server = await serve(answering(answer()))
    for _ in range(3):
        text, usage = await run(caller, node(server))
        assert (text, usage.finish_reason) == ("hi there", "stop")
    assert server.connections == 1
    assert len(server.requests) == 3


async def test_chunked_stream_split_anywhere(caller: NativeCaller, serve: Serve) -> None:
    body = CHUNKED_HEAD + b"".join(chunk(EVENTS[i:i + 7]) for i in range(0, len(EVENTS), 7))
    server = await serve(answering(body + b"0\r\n\r\n", piece=5))
    for _ in range(2):
        text, _ = await run(caller, node(server))
        assert text == "hi there"
    assert server.connections == 1


async def test_request_sent_is_signalled_once_the_request_is_out(caller: NativeCaller,
                                                                 serve: Serve) -> None:
    go_on = asyncio.Event()
    arrived: list[bytes] = []

    async def handler(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        arrived.append(request)
        await go_on.wait()
        await peer.send(answer())

    server = await serve(handler)
    sent = asyncio.Event()
    calls: list[int] = []

    def on_sent() -> None:
        calls.append(len(arrived))
        sent.set()

    async def call() -> str:
        with notify_when_sent(on_sent):
            text, _ = await run(caller, node(server))
        return text

    task = asyncio.create_task(call())
    await sent.wait()
    assert not task.done()  # signalled before any answer
    go_on.set()
    assert await task == "hi there"
    assert len(calls) == 1


async def test_a_keep_alive_connection_closed_by_the_node_is_replaced(
    caller: NativeCaller, serve: Serve
) -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        if peer.index == 0:  # answers once, then hangs up on the next request unanswered
            await peer.send(answer())
            await peer.request()
            return
        await peer.send(answer())

    server = await serve(handler)
    for _ in range(2):
        text, _ = await run(caller, node(server))
        assert text == "hi there"
    assert server.connections == 2


async def test_proxies_in_the_environment_are_not_used(
    caller: NativeCaller, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await serve(answering(reply(b"proxied", status=b"502 Bad Gateway")))
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server = await serve(answering(answer()))
    text, _ = await run(caller, node(server))
    assert text == "hi there"
    assert proxy.connections == 0


# -- regressions: the hand-written client's defects ----------------------------------------

@pytest.mark.parametrize("key", [f"{KEY}\r\nX-Injected: yes", f"{KEY}\nX-Injected: yes",
                                 f"{KEY}\rX-Injected: yes"])
async def test_a_line_break_in_the_api_key_is_refused_not_injected(
    caller: NativeCaller, serve: Serve, key: str
) -> None:
    server = await serve(answering(answer()))
    exc, text = await failure(caller, node(server, api_key=key))
    assert type(exc) is NodeUnavailable and text == ""
    assert "control character" in str(exc) and "api_key" in str(exc)
    assert KEY not in str(exc) and "X-Injected" not in str(exc)
    assert not any(b"X-Injected" in request for request in server.requests)


async def test_transfer_encoding_with_content_length_fails_and_is_not_reused(
    caller: NativeCaller, serve: Serve
) -> None:
    both = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
            + chunk(EVENTS) + b"0\r\n\r\n")
    server = await serve(answering(both, answer()))
    exc, _ = await failure(caller, node(server))
    assert type(exc) is NodeUnavailable
    assert "malformed HTTP answer" in str(exc) and "Content-Length" in str(exc)
    text, _ = await run(caller, node(server))
    assert text == "hi there"
    assert server.connections == 2  # the connection that carried it was closed


@pytest.mark.parametrize("head", [
    b"X-Big: " + b"a" * 100_000 + b"\r\n",  # one 100 KB header
    b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 40) for i in range(2_000)),  # 100 KB of headers
], ids=["one-header", "many-headers"])
async def test_an_oversized_response_head_is_rejected(caller: NativeCaller, serve: Serve,
                                                      head: bytes) -> None:
    server = await serve(answering(answer(head=head), answer()))
    exc, _ = await failure(caller, node(server))
    assert type(exc) is NodeUnavailable and "malformed HTTP answer" in str(exc)
    assert len(str(exc)) <= 300
    text, _ = await run(caller, node(server))
    assert text == "hi there" and server.connections == 2


async def test_a_head_with_bare_line_feeds_is_read_not_waited_on(caller: NativeCaller,
                                                                 serve: Serve) -> None:
    bare = b"HTTP/1.1 200 OK\nContent-Type: text/event-stream\nContent-Length: %d\n\n%s" % (
        len(EVENTS), EVENTS)
    server = await serve(answering(bare))  # the connection stays open after the answer
    text, usage = await run(caller, node(server, first_token=60))
    assert (text, usage.finish_reason) == ("hi there", "stop")


async def test_an_unbounded_chunk_size_is_an_error(caller: NativeCaller, serve: Serve) -> None:
    huge = CHUNKED_HEAD + b"F" * 40 + b"\r\n" + EVENTS
    server = await serve(answering(huge, answer()))
    exc, _ = await failure(caller, node(server, first_token=60))
    assert type(exc) is NodeUnavailable and "Chunk size" in str(exc)
    text, _ = await run(caller, node(server))
    assert text == "hi there" and server.connections == 2


async def test_a_very_long_line_is_read_whole(caller: NativeCaller, serve: Serve) -> None:
    event = {"choices": [{"delta": {"content": "z" * 600_000}, "finish_reason": "stop"}]}
    body = b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n"
    server = await serve(answering(answer(body)))
    text, _ = await run(caller, node(server))
    assert text == "z" * 600_000


# -- TLS per node ------------------------------------------------------------------------------

async def test_tls_with_the_nodes_ca_file(caller: NativeCaller, serve: Serve,
                                          certificate: Certificate) -> None:
    server = await serve(answering(answer()), tls=certificate.server_context())
    tls = {"ca_file": str(certificate.cert)}
    for _ in range(2):
        text, _ = await run(caller, node(server, "https", tls=tls))
        assert text == "hi there"
    assert server.connections == 1


async def test_tls_without_the_ca_file_is_reported_as_a_tls_failure(
    caller: NativeCaller, serve: Serve, certificate: Certificate
) -> None:
    server = await serve(answering(answer()), tls=certificate.server_context())
    exc, _ = await failure(caller, node(server, "https"))
    assert type(exc) is NodeUnavailable
    assert str(exc).startswith("TLS failure: certificate not trusted")
    assert "refused" not in str(exc)
    assert not server.requests


async def test_tls_hostname_mismatch_is_a_tls_failure(
    caller: NativeCaller, serve: Serve, other_host_certificate: Certificate
) -> None:
    server = await serve(answering(answer()), tls=other_host_certificate.server_context())
    tls = {"ca_file": str(other_host_certificate.cert)}
    exc, _ = await failure(caller, node(server, "https", tls=tls))
    assert str(exc).startswith("TLS failure: certificate not trusted")
    assert "mismatch" in str(exc).lower() or "not valid" in str(exc).lower()


async def test_tls_verify_false_skips_the_check(caller: NativeCaller, serve: Serve,
                                                certificate: Certificate) -> None:
    server = await serve(answering(answer()), tls=certificate.server_context())
    step = node(server, "https", tls={"verify": False})
    text, _ = await run(caller, step)
    assert text == "hi there"
