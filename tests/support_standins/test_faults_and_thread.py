"""TCP-level faults, the background-thread runner, and Script itself."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.standins import (
    BlackholeServer,
    OllamaStandin,
    OpenAIStandin,
    Script,
    ServerThread,
    refused_port,
    refused_url,
)


async def test_blackhole_accepts_and_never_answers() -> None:
    async with BlackholeServer() as hole, httpx.AsyncClient() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(hole.base_url + "/api/version", timeout=httpx.Timeout(0.3))
        assert hole.connections == 1
        assert hole.bytes_received > 0


async def test_blackhole_drops_connections_on_exit() -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        async with BlackholeServer() as hole:
            call = asyncio.ensure_future(client.get(hole.base_url))
            async with asyncio.timeout(5):
                await hole.wait_for_connections(1)
        with pytest.raises(httpx.TransportError):
            await call


async def test_refused_port() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{refused_port()}/")
        with pytest.raises(httpx.ConnectError):
            await client.get(refused_url() + "/v1/models")


def test_server_thread_serves_sync_callers() -> None:
    with ServerThread(lambda: OpenAIStandin(script=Script(reply="pong"))) as node:
        response = httpx.post(
            node.base_url + "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "ping"}]},
        )
        assert response.json()["choices"][0]["message"]["content"] == "pong"
        recorded = node.run(lambda s: s.wait_for_requests(1))
        assert recorded[0].body["messages"][0]["content"] == "ping"
        node.server.script = Script.http_error(500)
        failed = httpx.post(
            node.base_url + "/v1/chat/completions", json={"model": "m", "messages": []}
        )
        assert failed.status_code == 500


def test_server_thread_stops_hanging_requests() -> None:
    with (
        ServerThread(lambda: OllamaStandin(script=Script.hang())) as node,
        pytest.raises(httpx.ReadTimeout),
    ):
        httpx.post(node.base_url + "/api/chat", json={"model": "qwen2.5:14b"}, timeout=0.3)


def test_server_thread_runs_a_blackhole() -> None:
    with ServerThread(BlackholeServer) as hole, pytest.raises(httpx.ReadTimeout):
        httpx.get(hole.base_url, timeout=0.2)


def test_script_reply_sequence_and_chunking() -> None:
    script = Script(reply=["first", "second"], chunk_chars=2)
    assert [script.next_reply() for _ in range(3)] == ["first", "second", "second"]
    assert script.deltas("abcde") == ["ab", "cd", "e"]
    assert Script(chunk_chars=0).deltas("abcde") == ["abcde"]
    assert Script().deltas("") == []
    usage = Script(prompt_tokens=4).usage(prompt_words=99, deltas=["a", "b"])
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 2, 6)
