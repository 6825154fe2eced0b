"""The Anthropic Messages API stand-in, checked on the wire with httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.standins import AnthropicStandin, Script
from tests.support_standins.sse import SseEvent, read_sse

HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
BODY: dict[str, Any] = {
    "model": "claude-haiku-4-5",
    "max_tokens": 256,
    "system": "Be brief.",
    "messages": [{"role": "user", "content": "say hello please"}],
}


@pytest.fixture
async def server() -> AsyncIterator[AnthropicStandin]:
    async with AnthropicStandin(api_key="sk-ant-test") as s:
        yield s


@pytest.fixture
async def client(server: AnthropicStandin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, headers=HEADERS, timeout=10) as c:
        yield c


async def stream_events(client: httpx.AsyncClient) -> list[SseEvent]:
    async with client.stream("POST", "/v1/messages", json={**BODY, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [e async for e in read_sse(response)]


async def read_event_names(client: httpx.AsyncClient, into: list[str | None]) -> None:
    """Event names of a streamed reply, appended as they arrive (kept when it breaks)."""
    async with client.stream("POST", "/v1/messages", json={**BODY, "stream": True}) as r:
        async for event in read_sse(r):
            into.append(event.event)


async def test_non_streaming_message(client: httpx.AsyncClient, server: AnthropicStandin) -> None:
    server.script = Script(reply="Hi!", prompt_tokens=12, completion_tokens=3)
    body = (await client.post("/v1/messages", json=BODY)).json()
    assert body["id"].startswith("msg_")
    assert (body["type"], body["role"], body["model"]) == (
        "message",
        "assistant",
        "claude-haiku-4-5",
    )
    assert body["content"] == [{"type": "text", "text": "Hi!"}]
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)
    assert body["usage"] == {"input_tokens": 12, "output_tokens": 3}
    assert server.requests_to("/v1/messages")[-1].body["system"] == "Be brief."


async def test_stream_event_sequence(client: httpx.AsyncClient, server: AnthropicStandin) -> None:
    server.script = Script(reply="Hello world", chunk_chars=4, prompt_tokens=7)
    events = await stream_events(client)
    names = [e.event for e in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(e.json()["type"] == e.event for e in events), "data.type matches event:"
    start = events[0].json()["message"]
    assert start["usage"] == {"input_tokens": 7, "output_tokens": 1}
    assert start["content"] == []
    assert events[1].json()["content_block"] == {"type": "text", "text": ""}
    deltas = [e.json()["delta"] for e in events if e.event == "content_block_delta"]
    assert all(d["type"] == "text_delta" for d in deltas)
    assert "".join(d["text"] for d in deltas) == "Hello world"
    message_delta = events[-2].json()
    assert message_delta["delta"]["stop_reason"] == "end_turn"
    assert message_delta["usage"] == {"output_tokens": 3}


async def test_error_event_mid_stream(client: httpx.AsyncClient, server: AnthropicStandin) -> None:
    server.script = Script.error_mid_stream(reply="Hello world", chunk_chars=4)
    events = await stream_events(client)
    assert [e.event for e in events][-2:] == ["content_block_delta", "error"]
    assert events[-1].json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "wrong", "anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "sk-ant-test"}, 400, "invalid_request_error"),
    ],
)
async def test_required_headers(
    server: AnthropicStandin, headers: dict[str, str], status: int, kind: str
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as client:
        response = await client.post("/v1/messages", json=BODY)
    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == kind


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
    ],
)
async def test_scripted_errors(
    client: httpx.AsyncClient, server: AnthropicStandin, status: int, kind: str
) -> None:
    server.queue(Script.http_error(status))
    response = await client.post("/v1/messages", json={**BODY, "stream": True})
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert body["error"]["message"]
    assert "request-id" in response.headers


async def test_validation(client: httpx.AsyncClient, server: AnthropicStandin) -> None:
    no_max = {k: v for k, v in BODY.items() if k != "max_tokens"}
    response = await client.post("/v1/messages", json=no_max)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    server.models = ["claude-sonnet-4-5"]
    unknown = await client.post("/v1/messages", json=BODY)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"


async def test_models(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/models")).json()
    assert body["data"][0]["type"] == "model"
    assert body["data"][0]["id"] == "claude-haiku-4-5"
    assert body["has_more"] is False


async def test_cut_after_first_chunk(client: httpx.AsyncClient, server: AnthropicStandin) -> None:
    server.script = Script.cut_after_first_chunk(reply="Hello world", chunk_chars=4)
    names: list[str | None] = []
    with pytest.raises(httpx.RemoteProtocolError):
        await read_event_names(client, names)
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta"]
