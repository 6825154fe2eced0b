"""Build inference settings for tests: the seed's route shapes on loopback nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inference.config import InferenceSettings, NodeClient

__all__ = ["make_settings", "seed_like_settings"]


def make_settings(
    *,
    nodes: Mapping[str, Mapping[str, Any]],
    models: Mapping[str, Mapping[str, Any]],
    routes: Mapping[str, Sequence[str]],
    data_dir: Path,
    **sections: Any,
) -> InferenceSettings:
    data: dict[str, Any] = {
        "nodes": dict(nodes),
        "models": dict(models),
        "routes": {k: list(v) for k, v in routes.items()},
        "data_dir": str(data_dir),
        "timeouts": {"connect": 1, "first_token": 2, "total": 5},
        "health": {"probe_interval": 0.5, "probe_interval_open": 0.2, "probe_timeout": 0.5,
                   "cooldown": 30},
        "ledger": {"flush_interval": 0.05},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return InferenceSettings.model_validate(data)


def seed_like_settings(
    *,
    mlx_url: str,
    ollama_url: str,
    anthropic_url: str,
    data_dir: Path,
    client: NodeClient = "auto",
    **sections: Any,
) -> InferenceSettings:
    """The seed's smart-agent route (MLX → Ollama → Claude) on the given endpoints.

    ``client`` is who speaks to the two local nodes (``auto`` and ``native``: homecrew's own
    client, ``litellm``: the embedded Router); the cloud node always goes through LiteLLM.
    """
    return make_settings(
        nodes={
            "mlx": {"kind": "openai", "base_url": mlx_url, "client": client},
            "ollama": {"kind": "ollama", "base_url": ollama_url, "client": client},
            "anthropic": {"kind": "anthropic", "base_url": anthropic_url, "api_key": "sk-test"},
        },
        models={
            "mlx-qwen": {"node": "mlx", "model": "mlx-community/Qwen2.5-14B-Instruct-4bit"},
            "ollama-qwen": {"node": "ollama", "model": "qwen2.5:14b"},
            "claude-sonnet": {"node": "anthropic", "model": "claude-sonnet-4-5"},
            "claude-haiku": {"node": "anthropic", "model": "claude-haiku-4-5"},
        },
        routes={
            "smart-agent": ["mlx-qwen", "ollama-qwen", "claude-sonnet"],
            "chief-monitor": ["mlx-qwen", "claude-haiku"],
        },
        data_dir=data_dir,
        **sections,
    )
