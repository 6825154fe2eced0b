"""POST /v1/chat/completions: OpenAI's wire format, streamed and whole, via httpx and LiteLLM."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.mlx_daemon.support import PROMPT, ask, collect_stream, daemon_settings, running


async def _whole_text(client: Any, model: str, **extra: Any) -> dict[str, Any]:
    response = await ask(client, model, **extra)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_non_streamed_reply_is_openai_shaped(models: dict[str, Path], tmp_path: Path) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        body = await _whole_text(client, "tiny-a", max_tokens=12)
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "tiny-a"
    assert isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    assert choice["finish_reason"] == "length"
    usage = body["usage"]
    assert usage["completion_tokens"] == 12
    assert usage["prompt_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + 12


async def test_stream_follows_openai_chunk_sequence(
    models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        whole = await _whole_text(client, "tiny-b", max_tokens=10)
        body = {"model": "tiny-b", "messages": PROMPT, "max_tokens": 10, "temperature": 0,
                "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = await collect_stream(response)

    assert events[-1] == "[DONE]"
    chunks, usage_chunk = events[:-2], events[-2]
    assert {c["object"] for c in [*chunks, usage_chunk]} == {"chat.completion.chunk"}
    assert len({c["id"] for c in [*chunks, usage_chunk]}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["usage"] is None for c in chunks)
    finals = [c for c in chunks if c["choices"][0]["finish_reason"] is not None]
    assert finals == [chunks[-1]]
    assert chunks[-1]["choices"][0] == {
        "index": 0, "delta": {}, "logprobs": None, "finish_reason": "length",
    }  # fmt: skip
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == whole["usage"]


async def test_stream_without_usage_option_has_no_usage(
    models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        body = {"model": "tiny-a", "messages": PROMPT, "max_tokens": 4, "stream": True}
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            events = await collect_stream(response)
    assert events[-1] == "[DONE]"
    assert all("usage" not in e and e["choices"] for e in events[:-1])


async def test_litellm_openai_provider_parses_the_stream(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """The chain's client path: LiteLLM ``openai/<model>`` streaming with usage."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    settings = daemon_settings(models, tmp_path, api_key="s3cret-key")
    async with running(settings) as (server, client):
        whole = await _whole_text(client, "tiny-a", max_tokens=12)
        stream = await litellm.acompletion(
            model="openai/tiny-a", api_base=server.base_url, api_key="s3cret-key",
            messages=PROMPT, max_tokens=12, temperature=0, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        parts, usage, finish = [], None, None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
            if getattr(chunk, "usage", None):
                usage = chunk.usage
    assert "".join(parts) == whole["choices"][0]["message"]["content"]
    assert finish == "length"
    assert usage is not None
    assert usage.completion_tokens == 12
    assert usage.prompt_tokens == whole["usage"]["prompt_tokens"]


async def test_stop_sequence_cuts_the_reply(models: dict[str, Path], tmp_path: Path) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        full = (await _whole_text(client, "tiny-a", max_tokens=24))["choices"][0]["message"]
        text = full["content"]
        stop = text[len(text) // 2 : len(text) // 2 + 3]
        cut = await _whole_text(client, "tiny-a", max_tokens=24, stop=[stop, "\x00never"])
        body = {"model": "tiny-a", "messages": PROMPT, "max_tokens": 24, "temperature": 0,
                "stop": stop, "stream": True}  # fmt: skip
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            events = await collect_stream(response)
    expected = text[: text.index(stop)]
    assert cut["choices"][0]["message"]["content"] == expected
    assert cut["choices"][0]["finish_reason"] == "stop"
    streamed = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert streamed == expected
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


async def test_seed_makes_sampling_reproducible_even_in_a_batch(
    models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        alone = await _whole_text(client, "tiny-a", max_tokens=16, temperature=1.0, seed=7)
        batch = await asyncio.gather(
            ask(client, "tiny-a", max_tokens=16, temperature=1.0, seed=7),
            ask(client, "tiny-a", max_tokens=16, temperature=1.0, top_p=0.9),
            ask(client, "tiny-a", max_tokens=16, temperature=0.7, seed=99),
        )
    assert all(r.status_code == 200 for r in batch)
    seeded = batch[0].json()["choices"][0]["message"]["content"]
    assert seeded == alone["choices"][0]["message"]["content"]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_bounds_the_reply(
    models: dict[str, Path], tmp_path: Path, field: str
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        body = {"model": "tiny-b", "messages": PROMPT, field: 5}
        response = await client.post("/v1/chat/completions", json=body)
    assert response.json()["usage"]["completion_tokens"] == 5
