"""The Ollama stand-in, checked with the official ``ollama`` Python client (and httpx)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import ollama
import pytest

from tests.support.standins import BUSY_MESSAGE, OllamaModel, OllamaStandin, Script

MESSAGES = [{"role": "user", "content": "say hello please"}]


async def chat(client: ollama.AsyncClient, stream: bool, received: list[str] | None = None) -> None:
    """One chat to the end; streamed contents are appended to ``received``."""
    if not stream:
        await client.chat("qwen2.5:14b", messages=MESSAGES, stream=False)
        return
    async for part in await client.chat("qwen2.5:14b", messages=MESSAGES, stream=True):
        if received is not None:
            received.append(part.message.content or "")


@pytest.fixture
async def server() -> AsyncIterator[OllamaStandin]:
    models: list[str | OllamaModel] = [
        "qwen2.5:14b",
        "llama3.2",
        OllamaModel("qwen2.5-coder:14b", size=9_000_000_000),
    ]
    async with OllamaStandin(models=models, version="0.12.6") as s:
        yield s


@pytest.fixture
async def client(server: OllamaStandin) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=server.base_url) as c:
        yield c


async def test_chat_streams_ndjson(client: ollama.AsyncClient, server: OllamaStandin) -> None:
    server.script = Script(reply="Hello world", chunk_chars=4, prompt_tokens=9)
    parts = [p async for p in await client.chat("qwen2.5:14b", messages=MESSAGES, stream=True)]
    assert "".join(p.message.content or "" for p in parts) == "Hello world"
    assert [p.done for p in parts] == [False, False, False, True]
    last = parts[-1]
    assert last.done_reason == "stop"
    assert (last.prompt_eval_count, last.eval_count) == (9, 3)
    for duration in (last.total_duration, last.load_duration, last.eval_duration):
        assert isinstance(duration, int)
        assert duration > 0
    assert last.prompt_eval_duration is not None
    assert all(p.model == "qwen2.5:14b" for p in parts)
    assert all(p.message.role == "assistant" for p in parts)


async def test_stream_is_the_default(server: OllamaStandin) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post("/api/chat", json={"model": "qwen2.5:14b", "messages": []})
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) > 1
    assert lines[-1]["done"] is True
    assert set(lines[0]) == {"model", "created_at", "message", "done"}


async def test_chat_without_stream(client: ollama.AsyncClient, server: OllamaStandin) -> None:
    server.script = Script(reply="Hello world", completion_tokens=2)
    response = await client.chat("llama3.2", messages=MESSAGES, stream=False)
    assert response.message.content == "Hello world"
    assert response.done is True
    assert response.done_reason == "stop"
    assert response.eval_count == 2
    assert response.prompt_eval_count == 3


async def test_generate(client: ollama.AsyncClient, server: OllamaStandin) -> None:
    server.script = Script(reply="abcdef", chunk_chars=3)
    parts = [p async for p in await client.generate("qwen2.5:14b", "hi", stream=True)]
    assert [p.response for p in parts] == ["abc", "def", ""]
    assert parts[-1].done is True
    whole = await client.generate("qwen2.5:14b", "hi")
    assert whole.response == "abcdef"


async def test_format_is_recorded(client: ollama.AsyncClient, server: OllamaStandin) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    await client.chat("qwen2.5:14b", messages=MESSAGES, format=schema, stream=False)
    await client.chat("qwen2.5:14b", messages=MESSAGES, format="json", stream=False)
    formats = [r.body["format"] for r in server.requests_to("/api/chat")]
    assert formats == [schema, "json"]


async def test_list_ps_version(client: ollama.AsyncClient, server: OllamaStandin) -> None:
    tags = await client.list()
    names = [m.model for m in tags.models]
    assert names == ["qwen2.5:14b", "llama3.2:latest", "qwen2.5-coder:14b"]
    assert all(m.digest and m.size and m.modified_at and m.details for m in tags.models)
    assert (await client.ps()).models == []
    await client.chat("llama3.2", messages=MESSAGES, stream=False)
    running = (await client.ps()).models
    assert [m.model for m in running] == ["llama3.2:latest"]
    assert running[0].size_vram
    assert running[0].expires_at is not None
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/api/version")).json() == {"version": "0.12.6"}
        assert (await http.get("/")).text == "Ollama is running"


async def test_show(client: ollama.AsyncClient) -> None:
    shown = await client.show("qwen2.5:14b")
    assert shown.details is not None
    assert shown.details.family == "qwen2"
    assert shown.modelinfo is not None
    assert shown.modelinfo["qwen2.context_length"] == 32768


async def test_unknown_model_is_404(client: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        await client.chat("mistral", messages=MESSAGES, stream=False)
    assert raised.value.status_code == 404
    assert raised.value.error == "model 'mistral' not found"
    stream = await client.chat("mistral", messages=MESSAGES, stream=True)
    with pytest.raises(ollama.ResponseError) as streamed:
        await anext(stream)  # the streaming client raises on iteration
    assert streamed.value.status_code == 404


@pytest.mark.parametrize("stream", [True, False])
async def test_scripted_busy_is_503(
    client: ollama.AsyncClient, server: OllamaStandin, stream: bool
) -> None:
    server.queue(Script.http_error(503))
    with pytest.raises(ollama.ResponseError) as raised:
        await chat(client, stream)
    assert raised.value.status_code == 503
    assert raised.value.error == BUSY_MESSAGE


async def test_full_queue_is_503() -> None:
    async with (
        OllamaStandin(max_in_flight=1) as server,
        ollama.AsyncClient(host=server.base_url) as client,
    ):
        server.queue(Script.hang())
        held = asyncio.ensure_future(client.chat("qwen2.5:14b", messages=MESSAGES, stream=False))
        async with asyncio.timeout(5):
            await server.wait_for_requests(1, "/api/chat")
        with pytest.raises(ollama.ResponseError) as raised:
            await client.chat("qwen2.5:14b", messages=MESSAGES, stream=False)
        assert raised.value.status_code == 503
        await server.stop()
        with pytest.raises(httpx.TransportError):
            await held


async def test_error_mid_stream(client: ollama.AsyncClient, server: OllamaStandin) -> None:
    server.script = Script.error_mid_stream("out of memory", reply="abcdefgh", chunk_chars=4)
    received: list[str] = []
    with pytest.raises(ollama.ResponseError) as raised:
        await chat(client, True, received)
    assert received == ["abcd"]
    assert raised.value.error == "out of memory"
    assert raised.value.status_code == -1, "the error line arrives under HTTP 200"


async def test_error_mid_stream_http_200(server: OllamaStandin) -> None:
    server.script = Script.error_mid_stream("boom", reply="abcdefgh", chunk_chars=4)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post("/api/chat", json={"model": "qwen2.5:14b", "messages": []})
    assert response.status_code == 200
    assert [json.loads(line) for line in response.text.splitlines()][-1] == {"error": "boom"}


async def test_error_without_stream_is_500(
    client: ollama.AsyncClient, server: OllamaStandin
) -> None:
    server.script = Script.error_mid_stream("boom")
    with pytest.raises(ollama.ResponseError) as raised:
        await client.chat("qwen2.5:14b", messages=MESSAGES, stream=False)
    assert (raised.value.status_code, raised.value.error) == (500, "boom")


async def test_cut_after_first_chunk(client: ollama.AsyncClient, server: OllamaStandin) -> None:
    server.script = Script.cut_after_first_chunk(reply="abcdefgh", chunk_chars=4)
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        await chat(client, True, received)
    assert received == ["abcd"]


async def test_headers_come_with_the_first_line(server: OllamaStandin) -> None:
    server.script = Script(reply="abc", first_token_delay=0.3)
    payload = {"model": "qwen2.5:14b", "messages": MESSAGES}
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        started = time.monotonic()
        async with http.stream("POST", "/api/chat", json=payload) as response:
            headers_at = time.monotonic() - started
            await response.aread()
    assert headers_at >= 0.3


async def test_restart_on_the_same_port(client: ollama.AsyncClient, server: OllamaStandin) -> None:
    port = server.port
    await server.stop()
    with pytest.raises(ConnectionError):  # what the ollama client makes of a refused port
        await client.ps()
    await server.start()
    assert server.port == port
    assert (await client.ps()).models == []
