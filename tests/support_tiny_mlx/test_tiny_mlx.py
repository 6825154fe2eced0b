"""The tiny offline MLX models load and generate, and a real mlx_lm.server answers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import ManagedProcess, ProcessStartError, free_port
from tests.support.tiny_mlx import MlxLmServer, TinyModels, build_tiny_model

MESSAGES = [{"role": "user", "content": "Hello! Is the backup node up?"}]


def _visible(text: str) -> bool:
    return bool(text.strip()) and text.isascii() and text.isprintable()


def _load(model_dir: Path) -> tuple[Any, Any]:
    import mlx_lm

    loaded = mlx_lm.load(str(model_dir))
    return loaded[0], loaded[1]


def _greedy(model_dir: Path, max_tokens: int = 16) -> str:
    import mlx_lm

    model, tokenizer = _load(model_dir)
    prompt = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    text: str = mlx_lm.generate(model, tokenizer, prompt, max_tokens=max_tokens)
    return text


async def _sse_events(response: httpx.Response) -> tuple[list[dict[str, Any]], list[str]]:
    """(JSON payloads of ``data:`` lines up to ``[DONE]``, comment lines)."""
    payloads: list[dict[str, Any]] = []
    comments: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            comments.append(line)
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                return payloads, comments
            payloads.append(json.loads(data))
    raise AssertionError("stream ended without data: [DONE]")


def test_build_is_idempotent_and_seeds_differ(tiny_models: TinyModels, tmp_path: Path) -> None:
    weights = tiny_models.a / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert build_tiny_model(tiny_models.a, seed=0) == tiny_models.a
    assert weights.stat().st_mtime_ns == before
    assert weights.read_bytes() != (tiny_models.b / "model.safetensors").read_bytes()
    assert weights.stat().st_size < 1_000_000

    small = build_tiny_model(tmp_path / "m", seed=5, hidden_size=32)
    rebuilt = build_tiny_model(small, seed=5, hidden_size=32, num_layers=1)
    assert json.loads((rebuilt / "config.json").read_text())["num_hidden_layers"] == 1


def test_loads_in_process_and_generates_deterministically(tiny_models: TinyModels) -> None:
    import mlx_lm
    from mlx_lm.sample_utils import make_sampler

    text_a = _greedy(tiny_models.a)
    assert _visible(text_a)
    assert _greedy(tiny_models.a) == text_a
    assert _greedy(tiny_models.b) != text_a

    model, tokenizer = _load(tiny_models.a)
    prompt = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    streamed = list(mlx_lm.stream_generate(model, tokenizer, prompt, max_tokens=16))
    assert "".join(r.text for r in streamed) == text_a
    assert len(streamed) == 16
    assert streamed[-1].finish_reason == "length"

    sampler = make_sampler(temp=1.0)
    sampled = mlx_lm.generate(model, tokenizer, prompt, max_tokens=32, sampler=sampler)
    assert _visible(sampled)


async def test_server_lists_its_model(mlx_server: MlxLmServer) -> None:
    async with httpx.AsyncClient(base_url=mlx_server.base_url) as client:
        listing = (await client.get("/models")).json()
        health = await client.get(f"{mlx_server.root_url}/health")
    assert [m["id"] for m in listing["data"]] == [mlx_server.model_id]
    assert health.json() == {"status": "ok"}


async def test_server_chat_completion(mlx_server: MlxLmServer, tiny_models: TinyModels) -> None:
    body = {"model": mlx_server.model_id, "messages": MESSAGES, "max_tokens": 16}
    async with httpx.AsyncClient(base_url=mlx_server.base_url, timeout=60) as client:
        reply = (await client.post("/chat/completions", json=body)).json()
    choice = reply["choices"][0]
    assert reply["object"] == "chat.completion"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == _greedy(tiny_models.a)
    assert choice["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 16
    assert reply["usage"]["prompt_tokens"] > 0


async def test_server_streams_with_usage(mlx_server: MlxLmServer) -> None:
    body = {
        "model": mlx_server.model_id,
        "messages": MESSAGES,
        "max_tokens": 12,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with (
        httpx.AsyncClient(base_url=mlx_server.base_url, timeout=60) as client,
        client.stream("POST", "/chat/completions", json=body) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        payloads, comments = await _sse_events(response)

    *chunks, usage = payloads
    assert all(c.startswith(": keepalive") for c in comments)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert _visible(text)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 12


async def test_litellm_streams_text_and_usage(mlx_server: MlxLmServer) -> None:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    stream = await litellm.acompletion(
        model=f"openai/{mlx_server.model_id}",
        api_base=mlx_server.base_url,
        api_key="none",
        messages=MESSAGES,
        max_tokens=10,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    usage: Any = None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        usage = getattr(chunk, "usage", None) or usage
    assert _visible("".join(parts))
    assert usage is not None
    assert usage.completion_tokens == 10


def test_managed_process_reports_early_exit() -> None:
    argv = [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(ProcessStartError, match=r"(?s)code 3.*boom"):
        ManagedProcess(argv, ready=lambda: False, timeout=30).start()


def test_managed_process_times_out_and_is_stopped() -> None:
    proc = ManagedProcess(
        [sys.executable, "-c", "import time; time.sleep(60)"], ready=lambda: False, timeout=0.3
    )
    with pytest.raises(ProcessStartError, match="not ready"):
        proc.start()
    assert not proc.running()


async def test_managed_process_async_http_readiness(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}/"
    async with ManagedProcess(argv, ready=url, cwd=tmp_path, timeout=30) as proc:
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 200
        assert proc.running()
    assert not proc.running()
