"""Bad requests get OpenAI-shaped errors with the right status (and LiteLLM maps them)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mlx_daemon.support import PROMPT, ask, daemon_settings, metric_value, running


def _error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


async def test_unknown_model_is_404(models: dict[str, Path], tmp_path: Path) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        response = await ask(client, "gpt-imaginary")
        single = await client.get("/v1/models/gpt-imaginary")
        known = await client.get("/v1/models/tiny-a")
    assert response.status_code == 404
    error = _error(response)
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert "gpt-imaginary" in error["message"]
    assert single.status_code == 404
    assert known.json()["id"] == "tiny-a"


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (b"{not json", None, "parse the JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"model": "tiny-a"}', "messages", "Missing required parameter: 'messages'"),
        (b'{"model": "tiny-a", "messages": []}', "messages", "messages"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model", "'model'"),
        (b'{"model": "tiny-a", "messages": [{"role": "wizard", "content": "x"}]}',
         "messages.0.role", "role"),
        (b'{"model": "tiny-a", "messages": [{"role": "user", "content": "x"}], "n": 2}',
         "n", "n=1"),
        (b'{"model": "tiny-a", "messages": [{"role": "user", "content": "x"}], '
         b'"temperature": 9}', "temperature", "temperature"),
        (b'{"model": "tiny-a", "messages": [{"role": "user", "content": '
         b'[{"type": "image_url", "image_url": {"url": "x"}}]}]}', "messages", "image_url"),
    ],
)  # fmt: skip
async def test_malformed_requests_are_400(
    models: dict[str, Path], tmp_path: Path, body: bytes, param: str | None, fragment: str
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        response = await client.post(
            "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert fragment in error["message"]


async def test_prompt_beyond_the_context_is_400_naming_the_limit(
    models: dict[str, Path], tmp_path: Path
) -> None:
    long_prompt = [{"role": "user", "content": "the servers are healthy " * 200}]
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        too_long = await client.post(
            "/v1/chat/completions", json={"model": "tiny-a", "messages": long_prompt}
        )
        too_much = await ask(client, "tiny-a", max_tokens=600)
        fits = await ask(client, "tiny-a", max_tokens=400)
    assert too_long.status_code == 400
    error = _error(too_long)
    assert error["code"] == "context_length_exceeded"
    assert "maximum context length is 512 tokens" in error["message"]
    assert too_much.status_code == 400
    assert "512" in _error(too_much)["message"]
    assert fits.status_code == 200


async def test_configured_context_length_overrides_the_model(
    models: dict[str, Path], tmp_path: Path
) -> None:
    settings = daemon_settings(models, tmp_path)
    settings = settings.model_copy(
        update={"models": {**settings.models, "tiny-a": settings.models["tiny-a"].model_copy(
            update={"context_length": 20})}}
    )  # fmt: skip
    async with running(settings) as (_, client):
        response = await ask(client, "tiny-a", max_tokens=16)
        listed = (await client.get("/v1/models/tiny-a")).json()
    assert response.status_code == 400
    assert "maximum context length is 20 tokens" in _error(response)["message"]
    assert listed["context_length"] == 20


async def test_unknown_url_and_method_are_openai_shaped(
    models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        missing = await client.get("/v1/engines")
        wrong_method = await client.get("/v1/chat/completions")
    assert missing.status_code == 404
    assert "GET /v1/engines" in _error(missing)["message"]
    assert wrong_method.status_code == 405
    assert _error(wrong_method)["type"] == "invalid_request_error"


async def test_litellm_maps_the_errors_the_chain_relies_on(
    models: dict[str, Path], tmp_path: Path
) -> None:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    long_prompt = [{"role": "user", "content": "the servers are healthy " * 200}]
    async with running(daemon_settings(models, tmp_path)) as (server, _):
        common: dict[str, Any] = {"api_base": server.base_url, "api_key": "unused"}
        with pytest.raises(litellm.exceptions.ContextWindowExceededError):
            await litellm.acompletion(model="openai/tiny-a", messages=long_prompt, **common)
        with pytest.raises(litellm.exceptions.NotFoundError):
            await litellm.acompletion(model="openai/nope", messages=PROMPT, **common)


async def test_oversized_requests_get_413_before_the_worker_sees_them(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """A 10 MB body, a long prompt in a small body and an unannounced (chunked) big body are
    refused with 413 before parsing or tokenizing, while a small request sent at the same
    time is answered; the metrics show none of the three reached the model's worker."""
    huge = json.dumps({"model": "tiny-a",
                       "messages": [{"role": "user", "content": "x" * 10_000_000}]}).encode()

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 1 << 20):
            yield huge[start:start + (1 << 20)]

    settings = daemon_settings(models, tmp_path, max_prompt_chars=2000)
    json_headers = {"Content-Type": "application/json"}
    async with running(settings) as (_, client):
        big, small = await asyncio.gather(
            client.post("/v1/chat/completions", content=huge, headers=json_headers),
            ask(client, "tiny-a"),
        )
        long_prompt = await client.post("/v1/chat/completions", json={
            "model": "tiny-a", "messages": [{"role": "user", "content": "y" * 3000}]})
        unannounced = await client.post("/v1/chat/completions", content=chunked(),
                                        headers=json_headers)
        after = await ask(client, "tiny-a")
        metrics = (await client.get("/metrics")).text
    assert small.status_code == 200, small.text
    assert after.status_code == 200, after.text
    assert (big.status_code, long_prompt.status_code, unannounced.status_code) == (413, 413, 413)
    for refused in (big, long_prompt, unannounced):
        error = _error(refused)
        assert error["code"] == "request_too_large"
        assert error["type"] == "invalid_request_error"
    assert "max_request_bytes" in _error(big)["message"]
    assert "max_prompt_chars" in _error(long_prompt)["message"]
    assert "max_request_bytes" in _error(unannounced)["message"]
    # refused before a model was even chosen; the worker served only the two small ones
    assert metric_value(metrics, "mlx_daemon_requests_total", model="-", status="413") == 3
    assert metric_value(metrics, "mlx_daemon_requests_total", model="tiny-a", status="200") == 2
    assert metric_value(metrics, "mlx_daemon_requests_total", model="tiny-a", status="413") is None
    assert metric_value(metrics, "mlx_daemon_requests_total", model="tiny-a", status="400") is None
