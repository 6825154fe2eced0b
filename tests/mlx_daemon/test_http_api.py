"""/health, /metrics, /v1/models, bearer auth and the rotating log file."""

from __future__ import annotations

from pathlib import Path

from tests.mlx_daemon.support import (
    ask,
    budget_gb,
    daemon_settings,
    metric_value,
    model_bytes,
    running,
)


async def test_health_reports_models_memory_and_queues(
    models: dict[str, Path], tmp_path: Path
) -> None:
    budget = budget_gb(10 * model_bytes(models["tiny-a"]))
    settings = daemon_settings(models, tmp_path, memory_budget_gb=budget, preload=["tiny-a"])
    async with running(settings) as (_, client):
        response = await client.get("/health")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert health["ready"] is True
    assert health["worker_alive"] is True
    assert health["uptime_seconds"] >= 0
    a, b = health["models"]["tiny-a"], health["models"]["tiny-b"]
    assert (a["state"], a["loaded"], a["loads"]) == ("loaded", True, 1)
    assert (b["state"], b["loaded"], b["loads"]) == ("unloaded", False, 0)
    assert a["context_length"] == 512
    assert a["memory_bytes"] >= model_bytes(models["tiny-a"])
    assert (a["active"], a["queued"]) == (0, 0)
    memory = health["memory"]
    assert memory["budget_bytes"] == int(budget * 1024**3)
    assert memory["used_bytes"] == a["memory_bytes"]
    assert memory["mlx_active_bytes"] > 0
    assert health["queue"] == {"active": 0, "queued": 0, "max_batch_size": 8, "queue_size": 16}


async def test_metrics_expose_requests_tokens_ttft_queue_and_loads(
    models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        for _ in range(3):
            assert (await ask(client, "tiny-a", max_tokens=6)).status_code == 200
        await ask(client, "missing-model")
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    def value(name: str, **labels: str) -> float | None:
        return metric_value(text, name, **labels)

    assert value("mlx_daemon_requests_total", model="tiny-a", status="200") == 3.0
    assert value("mlx_daemon_requests_total", model="-", status="404") == 1.0
    assert value("mlx_daemon_generated_tokens_total", model="tiny-a") == 18.0
    assert value("mlx_daemon_generated_tokens_total", model="tiny-b") == 0.0
    assert (value("mlx_daemon_prompt_tokens_total", model="tiny-a") or 0) > 0
    assert value("mlx_daemon_time_to_first_token_seconds_count", model="tiny-a") == 3.0
    assert value("mlx_daemon_request_duration_seconds_count", model="tiny-a") == 3.0
    assert value("mlx_daemon_queue_depth", model="tiny-a") == 0.0
    assert value("mlx_daemon_active_requests", model="tiny-a") == 0.0
    assert value("mlx_daemon_tokens_per_second", model="tiny-a") is not None
    assert value("mlx_daemon_model_loads_total", model="tiny-b", outcome="success") == 1.0
    assert value("mlx_daemon_model_evictions_total", model="tiny-a") == 0.0
    assert value("mlx_daemon_model_loaded", model="tiny-a") == 1.0
    assert (value("mlx_daemon_memory_used_bytes") or 0) > 0
    assert (value("mlx_daemon_mlx_active_memory_bytes") or 0) > 0


async def test_models_listing_is_openai_shaped(models: dict[str, Path], tmp_path: Path) -> None:
    async with running(daemon_settings(models, tmp_path, preload=["tiny-b"])) as (_, client):
        listing = (await client.get("/v1/models")).json()
    assert listing["object"] == "list"
    assert [(m["id"], m["object"], m["loaded"]) for m in listing["data"]] == [
        ("tiny-a", "model", False), ("tiny-b", "model", True),
    ]  # fmt: skip


async def test_bearer_auth_guards_the_api_but_not_health(
    models: dict[str, Path], tmp_path: Path
) -> None:
    key = "sk-very-secret-daemon-key"
    settings = daemon_settings(models, tmp_path, api_key=key, preload=["tiny-a"])
    async with running(settings) as (_, client):
        authorised = await ask(client, "tiny-a")
        listed = await client.get("/v1/models")
        del client.headers["Authorization"]
        anonymous = await client.get("/v1/models")
        wrong = await client.post("/v1/chat/completions", json={"model": "tiny-a"},
                                  headers={"Authorization": "Bearer nope"})  # fmt: skip
        health = await client.get("/health")
        metrics = await client.get("/metrics")
    assert authorised.status_code == 200
    assert listed.status_code == 200
    for refused in (anonymous, wrong):
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
    assert health.status_code == 200
    assert metrics.status_code == 200
    log = (tmp_path / "logs" / "mlx-api.log").read_text(encoding="utf-8")
    assert "POST /v1/chat/completions 200" in log
    assert "auth=on" in log
    assert key not in log


async def test_empty_api_key_means_no_auth(models: dict[str, Path], tmp_path: Path) -> None:
    settings = daemon_settings(models, tmp_path, api_key="", preload=[])
    assert settings.api_key is None
    async with running(settings) as (_, client):
        assert (await client.get("/v1/models")).status_code == 200


async def test_log_file_rotates(models: dict[str, Path], tmp_path: Path) -> None:
    settings = daemon_settings(models, tmp_path, log_max_bytes=1024, log_backup_count=2)
    async with running(settings) as (_, client):
        for _ in range(80):
            await client.get("/health")
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs == ["mlx-api.log", "mlx-api.log.1", "mlx-api.log.2"]
