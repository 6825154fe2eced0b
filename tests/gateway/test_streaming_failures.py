"""A streamed reply that breaks: a node failing mid-stream ends it with OpenAI's error
event (never a silent cut); a client going away cancels the node's request."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from tests.gateway.conftest import Nodes
from tests.support.gateway import RunningGateway
from tests.support.standins import Script

HI = [{"role": "user", "content": "hi"}]


async def test_a_node_failing_mid_stream_ends_with_an_error_event(
        gw: RunningGateway, nodes: Nodes) -> None:
    nodes.mlx.queue(Script.error_mid_stream("model runner crashed", reply="abcdefgh"))
    client = openai.AsyncOpenAI(base_url=gw.v1, api_key="unused", max_retries=0)
    stream = await client.chat.completions.create(model="smart-agent", messages=HI,  # type: ignore[arg-type]
                                                  stream=True)
    seen: list[str] = []

    async def read() -> None:
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as caught:
        await read()
    assert "".join(seen) == "abcd"
    assert "interrupted" in caught.value.message
    assert "model runner crashed" in caught.value.message
    assert nodes.ollama.requests_to("/api/chat") == []  # committed: no fallback mid-reply


async def test_raw_stream_ends_with_the_error_and_no_done(gw: RunningGateway,
                                                          nodes: Nodes) -> None:
    nodes.mlx.queue(Script.cut_after_first_chunk(reply="abcdefgh"))
    async with aiohttp.ClientSession() as session, session.post(
            f"{gw.v1}/chat/completions",
            json={"model": "smart-agent", "messages": HI, "stream": True}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        frames = [line for line in (await response.text()).split("\n\n") if line]
    assert frames[-1].startswith('data: {"error": ')
    assert "data: [DONE]" not in frames


async def test_a_client_going_away_cancels_the_node_request(gw: RunningGateway,
                                                           nodes: Nodes) -> None:
    nodes.mlx.queue(Script(reply="x" * 400, chunk_chars=2, chunk_delay=0.05))
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{gw.v1}/chat/completions",
            json={"model": "smart-agent", "messages": HI, "stream": True})
        assert response.status == 200
        async with asyncio.timeout(5):
            while b"content" not in await response.content.readline():
                pass
        response.close()  # drop the connection mid-reply
    async with asyncio.timeout(5):
        await nodes.mlx.wait_for_disconnects(1)
    assert nodes.ollama.requests == [] and nodes.anthropic.requests == []
