"""Batching, the bounded queue (503 + Retry-After) and cancellation on client disconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.mlx_daemon.support import (
    PROMPT,
    ask,
    daemon_settings,
    metric_value,
    read_sse,
    running,
    wait_until,
)

LONG = 7000  # tokens: minutes of work for the long model if nothing stopped it


def _long_body(**extra: Any) -> dict[str, Any]:
    body = {"model": "long", "messages": PROMPT, "max_tokens": LONG, "stream": True}
    body.update(extra)
    return body


async def _queue(client: httpx.AsyncClient, model: str) -> dict[str, int]:
    state = (await client.get("/health")).json()["models"][model]
    return {"active": state["active"], "queued": state["queued"]}


@asynccontextmanager
async def _streaming(client: httpx.AsyncClient) -> AsyncIterator[httpx.Response]:
    """A long streamed request, yielded once its first text has arrived."""
    async with client.stream("POST", "/v1/chat/completions", json=_long_body()) as response:
        assert response.status_code == 200
        events = read_sse(response)
        async for data in events:
            if '"content":"' in data and '"content":""' not in data:
                break
        yield response


async def test_full_queue_answers_503_with_retry_after_at_once(
    long_model: Path, tmp_path: Path
) -> None:
    settings = daemon_settings({"long": long_model}, tmp_path, max_batch_size=1, queue_size=1)
    async with running(settings) as (_, client), AsyncExitStack() as streams:
        await streams.enter_async_context(_streaming(client))  # takes the only batch slot
        queued = asyncio.create_task(client.post("/v1/chat/completions", json=_long_body()))

        async def one_waiting() -> bool:
            return await _queue(client, "long") == {"active": 1, "queued": 1}

        await wait_until(one_waiting, what="a queued request")
        rejected = await client.post("/v1/chat/completions", json=_long_body(stream=False))
        # at once: answered while the slot and the queue place are still taken
        still_waiting = not queued.done() and await one_waiting()
        metrics = (await client.get("/metrics")).text
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)
    assert rejected.status_code == 503
    assert rejected.headers["Retry-After"] == "1"
    assert rejected.json()["error"]["code"] == "overloaded"
    assert still_waiting
    assert metric_value(metrics, "mlx_daemon_queue_depth", model="long") == 1.0
    assert metric_value(metrics, "mlx_daemon_requests_total", model="long", status="503") == 1.0


async def test_disconnected_stream_stops_generation_and_frees_its_slot(
    long_model: Path, tmp_path: Path
) -> None:
    settings = daemon_settings({"long": long_model}, tmp_path, max_batch_size=1, queue_size=0)
    async with running(settings) as (_, client):
        async with _streaming(client):
            assert await _queue(client, "long") == {"active": 1, "queued": 0}
        # the client has closed the connection
        async def slot_free() -> bool:
            return await _queue(client, "long") == {"active": 0, "queued": 0}

        await wait_until(slot_free, within=10, what="the batch slot to be freed")
        text = (await client.get("/metrics")).text
        generated = metric_value(text, "mlx_daemon_generated_tokens_total", model="long")
        follow_up = await ask(client, "long", max_tokens=4)  # the slot is usable again
        later = metric_value((await client.get("/metrics")).text,
                             "mlx_daemon_generated_tokens_total", model="long")  # fmt: skip
        disconnected = metric_value(text, "mlx_daemon_requests_total", model="long",
                                    status="disconnected")  # fmt: skip
    assert generated is not None
    assert generated < LONG / 2
    assert follow_up.status_code == 200
    assert later == generated + 4  # nothing generated for the abandoned stream meanwhile
    assert disconnected == 1.0


async def test_abandoned_whole_reply_is_cancelled_too(long_model: Path, tmp_path: Path) -> None:
    settings = daemon_settings({"long": long_model}, tmp_path)
    async with running(settings) as (_, client):
        body = {**_long_body(stream=False)}
        request = asyncio.create_task(client.post("/v1/chat/completions", json=body))

        async def generating() -> bool:
            return (await _queue(client, "long"))["active"] == 1

        await wait_until(generating, what="generation to start")
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)

        async def idle() -> bool:
            return (await _queue(client, "long"))["active"] == 0

        await wait_until(idle, within=10, what="the abandoned request to stop")
        text = (await client.get("/metrics")).text
    generated = metric_value(text, "mlx_daemon_generated_tokens_total", model="long")
    assert generated is not None
    assert generated < LONG / 2


async def test_concurrent_requests_are_batched(models: dict[str, Path], tmp_path: Path) -> None:
    settings = daemon_settings(models, tmp_path, max_batch_size=8)
    async with running(settings) as (_, client):
        alone = (await ask(client, "tiny-a", max_tokens=16)).json()
        replies = await asyncio.gather(
            *(ask(client, m, max_tokens=16) for m in ["tiny-a"] * 8 + ["tiny-b"] * 4)
        )
    assert [r.status_code for r in replies] == [200] * 12
    texts = [r.json()["choices"][0]["message"]["content"] for r in replies[:8]]
    assert set(texts) == {alone["choices"][0]["message"]["content"]}  # greedy: identical
