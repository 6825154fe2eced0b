"""Reusing the KV cache of earlier turns: fewer tokens prefilled, the same answers."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.mlx_daemon.support import daemon_settings, metric_value, running

SYSTEM = {"role": "system", "content": "You watch the homelab servers and answer briefly."}


async def _conversation(client: httpx.AsyncClient) -> list[str]:
    messages = [SYSTEM, {"role": "user", "content": "How is the disk usage?"}]
    replies = []
    for follow_up in ("And the memory?", "Restart the service please.", "Thanks."):
        body = {"model": "tiny-a", "messages": messages, "max_tokens": 12, "temperature": 0}
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        reply = response.json()["choices"][0]["message"]["content"]
        replies.append(reply)
        messages = [*messages, {"role": "assistant", "content": reply},
                    {"role": "user", "content": follow_up}]  # fmt: skip
    return replies


async def test_follow_up_turns_reuse_the_cached_prefix(
    models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(models, tmp_path, preload=["tiny-a"])) as (_, client):
        cached = await _conversation(client)
        metrics = (await client.get("/metrics")).text
    uncached_settings = daemon_settings(models, tmp_path, preload=["tiny-a"], prompt_cache_size=0)
    async with running(uncached_settings) as (_, client):
        uncached = await _conversation(client)
        plain = (await client.get("/metrics")).text
    reused = metric_value(metrics, "mlx_daemon_cached_prompt_tokens_total", model="tiny-a")
    prompt = metric_value(metrics, "mlx_daemon_prompt_tokens_total", model="tiny-a")
    assert reused is not None and prompt is not None
    assert reused > prompt / 3  # turns 2 and 3 mostly come from the cache
    assert (metric_value(metrics, "mlx_daemon_prompt_cache_bytes", model="tiny-a") or 0) > 0
    assert metric_value(plain, "mlx_daemon_cached_prompt_tokens_total", model="tiny-a") == 0.0
    assert cached == uncached


async def test_identical_prompt_is_served_from_the_cache(
    models: dict[str, Path], tmp_path: Path
) -> None:
    body = {"model": "tiny-b", "messages": [SYSTEM], "max_tokens": 6, "temperature": 0}
    async with running(daemon_settings(models, tmp_path, preload=["tiny-b"])) as (_, client):
        first = (await client.post("/v1/chat/completions", json=body)).json()
        again = (await client.post("/v1/chat/completions", json=body)).json()
        metrics = (await client.get("/metrics")).text
    assert first["choices"][0]["message"] == again["choices"][0]["message"]
    assert first["usage"] == again["usage"]
    reused = metric_value(metrics, "mlx_daemon_cached_prompt_tokens_total", model="tiny-b")
    assert reused == first["usage"]["prompt_tokens"] - 1  # all but the token fed to generate
