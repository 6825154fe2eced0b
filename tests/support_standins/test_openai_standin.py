"""The OpenAI-compatible stand-in, checked on the wire with httpx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.standins import OpenAIQuirks, OpenAIStandin, Script
from tests.support_standins.sse import SseEvent, read_sse

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "say hello please"}]


@pytest.fixture
async def server() -> AsyncIterator[OpenAIStandin]:
    async with OpenAIStandin(models=["m1", "m2"], api_key="sk-test") as s:
        yield s


@pytest.fixture
async def client(server: OpenAIStandin) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": "Bearer sk-test"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as c:
        yield c


async def stream_events(client: httpx.AsyncClient, **body: Any) -> list[SseEvent]:
    payload = {"model": "m1", "messages": MESSAGES, "stream": True, **body}
    async with client.stream("POST", CHAT, json=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [e async for e in read_sse(response)]


async def read_lines(client: httpx.AsyncClient, payload: Any, into: list[str]) -> None:
    """Non-empty lines of a streamed reply, appended as they arrive (kept when it breaks)."""
    async with client.stream("POST", CHAT, json=payload) as response:
        async for line in response.aiter_lines():
            if line:
                into.append(line)


async def test_models_lists_configured_ids(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/models")).json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["m1", "m2"]
    assert all(m["object"] == "model" for m in body["data"])


async def test_bearer_auth_is_checked(server: OpenAIStandin) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as anonymous:
        response = await anonymous.post(CHAT, json={"model": "m1", "messages": MESSAGES})
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    assert error["code"] == "invalid_api_key"


async def test_non_streaming_completion(client: httpx.AsyncClient, server: OpenAIStandin) -> None:
    server.script = Script(reply="Hi there", prompt_tokens=11, completion_tokens=2)
    response = await client.post(CHAT, json={"model": "m1", "messages": MESSAGES})
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hi there",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}


async def test_stream_chunks_then_done(client: httpx.AsyncClient, server: OpenAIStandin) -> None:
    server.script = Script(reply="Hello world", chunk_chars=4)
    events = await stream_events(client)
    assert events[-1].data == "[DONE]"
    chunks = [e.json() for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("content", "") for d in deltas) == "Hello world"
    assert [d.get("content") for d in deltas[:-1]] == ["Hell", "o wo", "rld"]
    assert deltas[0]["role"] == "assistant"
    assert "role" not in deltas[1]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks]
    assert finishes == [None, None, None, "stop"]
    assert all("usage" not in c for c in chunks)


async def test_stream_include_usage(client: httpx.AsyncClient, server: OpenAIStandin) -> None:
    server.script = Script(reply="abcdefgh", chunk_chars=4, prompt_tokens=5)
    events = await stream_events(client, stream_options={"include_usage": True})
    usage_chunk = events[-2].json()
    assert usage_chunk["object"] == "chat.completion.chunk"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert all(e.json()["usage"] is None for e in events[:-2])


async def test_mlx_lm_quirks(client: httpx.AsyncClient, server: OpenAIStandin) -> None:
    server.quirks = OpenAIQuirks.mlx_lm(keepalive_comments=3)
    server.script = Script(reply="abcdefgh", chunk_chars=4)
    events = await stream_events(client, stream_options={"include_usage": True})
    assert events[0].comments == ("keepalive 1/3", "keepalive 2/3", "keepalive 3/3")
    chunks = [e.json() for e in events[:-1]]
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks[:-1])
    assert chunks[-1]["object"] == "chat.completion"
    assert chunks[-1]["choices"] == []


async def test_request_is_recorded(client: httpx.AsyncClient, server: OpenAIStandin) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    await client.post(CHAT, json={"model": "m2", "messages": MESSAGES, "response_format": schema})
    recorded = server.requests_to(CHAT)[-1]
    assert recorded.method == "POST"
    assert recorded.body["response_format"] == schema
    assert recorded.headers["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (404, "invalid_request_error"),
        (429, "requests"),
        (500, "server_error"),
        (503, "server_error"),
    ],
)
async def test_scripted_http_errors_are_openai_shaped(
    client: httpx.AsyncClient, server: OpenAIStandin, status: int, kind: str
) -> None:
    server.queue(Script.http_error(status))
    response = await client.post(CHAT, json={"model": "m1", "messages": MESSAGES, "stream": True})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == kind
    assert error["message"]
    ok = await client.post(CHAT, json={"model": "m1", "messages": MESSAGES})
    assert ok.status_code == 200, "a queued script applies to one request only"


async def test_custom_error_body(client: httpx.AsyncClient, server: OpenAIStandin) -> None:
    server.script = Script.http_error(502, {"detail": "bad gateway"})
    response = await client.post(CHAT, json={"model": "m1", "messages": MESSAGES})
    assert (response.status_code, response.json()) == (502, {"detail": "bad gateway"})


async def test_validation_and_strict_models(server: OpenAIStandin) -> None:
    headers = {"Authorization": "Bearer sk-test"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as client:
        missing = await client.post(CHAT, json={"model": "m1"})
        assert missing.status_code == 400
        assert (await client.post(CHAT, json={"model": "any", "messages": MESSAGES})).is_success
        server.strict_models = True
        unknown = await client.post(CHAT, json={"model": "other", "messages": MESSAGES})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


async def test_first_token_delay_after_headers(
    client: httpx.AsyncClient, server: OpenAIStandin
) -> None:
    gate = asyncio.Event()  # holds the first token: headers must not wait for it
    server.script = Script(reply="abc", first_token_delay=0.3, first_token_gate=gate)
    payload = {"model": "m1", "messages": MESSAGES, "stream": True}
    started = time.monotonic()
    async with client.stream("POST", CHAT, json=payload) as response:
        assert response.status_code == 200 and not gate.is_set()
        gate.set()
        lines = response.aiter_lines()
        first = await anext(lines)
        first_at = time.monotonic() - started
    assert first.startswith("data: ")
    assert first_at >= 0.3  # the delay is served after the headers, before the first token


async def test_reply_texts_are_consumed_in_order(
    client: httpx.AsyncClient, server: OpenAIStandin
) -> None:
    server.script = Script(reply=["one", "two"])
    texts = []
    for _ in range(3):
        body = (await client.post(CHAT, json={"model": "m1", "messages": MESSAGES})).json()
        texts.append(body["choices"][0]["message"]["content"])
    assert texts == ["one", "two", "two"]


async def test_cut_after_first_chunk(client: httpx.AsyncClient, server: OpenAIStandin) -> None:
    server.script = Script.cut_after_first_chunk(reply="abcdefgh", chunk_chars=4)
    seen: list[str] = []
    payload = {"model": "m1", "messages": MESSAGES, "stream": True}
    with pytest.raises(httpx.RemoteProtocolError):
        await read_lines(client, payload, seen)
    assert len(seen) == 1
    assert '"content": "abcd"' in seen[0]


async def test_error_mid_stream(client: httpx.AsyncClient, server: OpenAIStandin) -> None:
    server.script = Script.error_mid_stream("exploded", reply="abcdefgh", chunk_chars=4)
    events = await stream_events(client)
    assert events[0].json()["choices"][0]["delta"]["content"] == "abcd"
    assert events[1].json()["error"]["message"] == "exploded"
    assert len(events) == 2, "no [DONE] after an error"


async def test_hang_until_server_stops() -> None:
    async with OpenAIStandin(script=Script.hang()) as server, httpx.AsyncClient() as client:
        payload = {"model": "m1", "messages": MESSAGES}
        call = asyncio.ensure_future(client.post(server.base_url + CHAT, json=payload))
        async with asyncio.timeout(5):
            await server.wait_for_requests(1, CHAT)
        assert not call.done()
        await server.stop()
        with pytest.raises(httpx.TransportError):
            await call
