"""Several resident models: preload, lazy load, no reload on switch, LRU eviction, failures."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.mlx_daemon.support import (
    ask,
    budget_gb,
    daemon_settings,
    metric_value,
    model_bytes,
    running,
)


async def _health_models(client: httpx.AsyncClient) -> dict[str, Any]:
    models: dict[str, Any] = (await client.get("/health")).json()["models"]
    return models


async def test_both_models_resident_and_switching_never_reloads(
    models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        before = await _health_models(client)
        assert {m: before[m]["state"] for m in models} == {"tiny-a": "loaded", "tiny-b": "loaded"}
        replies = [await ask(client, m) for m in ["tiny-a", "tiny-b"] * 4]
        after = await _health_models(client)
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in replies] == [200] * 8
    texts = {r.json()["model"]: r.json()["choices"][0]["message"]["content"] for r in replies}
    assert texts["tiny-a"] != texts["tiny-b"]  # two different models really answered
    for model in models:
        assert after[model]["loads"] == 1
        assert after[model]["evictions"] == 0
        assert metric_value(metrics, "mlx_daemon_model_loads_total",
                            model=model, outcome="success") == 1.0  # fmt: skip


async def test_model_loads_lazily_on_first_use(models: dict[str, Path], tmp_path: Path) -> None:
    settings = daemon_settings(models, tmp_path, preload=[])
    async with running(settings) as (_, client):
        listed = (await client.get("/v1/models")).json()["data"]
        assert {m["id"]: m["loaded"] for m in listed} == {"tiny-a": False, "tiny-b": False}
        assert (await ask(client, "tiny-b")).status_code == 200
        listed = (await client.get("/v1/models")).json()["data"]
    assert {m["id"]: m["loaded"] for m in listed} == {"tiny-a": False, "tiny-b": True}


async def test_lru_model_is_evicted_when_over_budget(
    models: dict[str, Path], third_model: Path, tmp_path: Path
) -> None:
    three = {**models, "tiny-c": third_model}
    room_for_two = budget_gb(2.5 * max(model_bytes(p) for p in three.values()))
    settings = daemon_settings(three, tmp_path, preload=[], memory_budget_gb=room_for_two)
    async with running(settings) as (_, client):
        for model in ["tiny-a", "tiny-b", "tiny-a", "tiny-c"]:  # b is least recently used
            assert (await ask(client, model)).status_code == 200
        state = await _health_models(client)
        memory = (await client.get("/health")).json()["memory"]
        assert (await ask(client, "tiny-b")).status_code == 200  # reloads b, evicts a
        later = await _health_models(client)
        metrics = (await client.get("/metrics")).text
    assert {m: s["state"] for m, s in state.items()} == {
        "tiny-a": "loaded", "tiny-b": "unloaded", "tiny-c": "loaded",
    }  # fmt: skip
    assert state["tiny-b"]["evictions"] == 1
    assert memory["used_bytes"] <= memory["budget_bytes"]
    assert later["tiny-a"]["state"] == "unloaded"
    assert later["tiny-b"]["loads"] == 2
    assert metric_value(metrics, "mlx_daemon_model_evictions_total", model="tiny-b") == 1.0
    assert metric_value(metrics, "mlx_daemon_model_evictions_total", model="tiny-a") == 1.0


async def test_model_larger_than_the_budget_is_unavailable(
    models: dict[str, Path], tmp_path: Path
) -> None:
    tiny_budget = budget_gb(model_bytes(models["tiny-a"]) / 4)
    settings = daemon_settings(models, tmp_path, preload=[], memory_budget_gb=tiny_budget)
    async with running(settings) as (_, client):
        response = await ask(client, "tiny-a")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert "memory_budget_gb" in error["message"]


async def test_broken_model_is_503_and_the_other_keeps_answering(
    models: dict[str, Path], broken_model: Path, tmp_path: Path
) -> None:
    configured = {"tiny-a": models["tiny-a"], "broken": broken_model}
    settings = daemon_settings(configured, tmp_path)  # preloads both: one fails
    async with running(settings) as (_, client):
        failed = await ask(client, "broken")
        ok = await ask(client, "tiny-a")
        health = await _health_models(client)
        listed = (await client.get("/v1/models")).json()["data"]
        alive = (await client.get("/health")).status_code
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "model_unavailable"
    assert "'broken'" in failed.json()["error"]["message"]
    assert ok.status_code == 200
    assert alive == 200
    assert health["broken"]["state"] == "failed"
    assert health["broken"]["last_error"]
    assert health["tiny-a"]["state"] == "loaded"
    assert {m["id"]: m["loaded"] for m in listed} == {"tiny-a": True, "broken": False}


async def test_missing_model_directory_is_503(models: dict[str, Path], tmp_path: Path) -> None:
    configured = {"tiny-a": models["tiny-a"], "ghost": tmp_path / "no-such-model"}
    async with running(daemon_settings(configured, tmp_path, preload=[])) as (_, client):
        response = await ask(client, "ghost")
        assert (await ask(client, "tiny-a")).status_code == 200
    assert response.status_code == 503
    assert "does not exist" in response.json()["error"]["message"]


async def test_failed_model_is_retried_once_its_files_are_fixed(
    models: dict[str, Path], broken_model: Path, tmp_path: Path
) -> None:
    settings = daemon_settings({"fixable": broken_model}, tmp_path, load_retry_seconds=0)
    async with running(settings) as (_, client):
        assert (await ask(client, "fixable")).status_code == 503
        shutil.copyfile(models["tiny-a"] / "model.safetensors", broken_model / "model.safetensors")
        recovered = await ask(client, "fixable")
        state = (await _health_models(client))["fixable"]
    assert recovered.status_code == 200
    assert (state["state"], state["loads"], state["last_error"]) == ("loaded", 1, None)
