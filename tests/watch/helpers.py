"""Helpers of the watch tests: a controllable clock, a recording poster, settings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homecrew.settings import Settings
from tests.support.waiting import wait_until
from watch.messages import ChiefMessage

__all__ = [
    "Clock",
    "RecordingPoster",
    "at",
    "deep_merge",
    "fields_of",
    "make_settings",
    "wait_until",
]


def at(text: str) -> float:
    """Epoch seconds of an ISO date-time in UTC, e.g. ``at("2025-11-25 09:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Clock:
    """Wall-clock time that moves only when a test says so."""

    def __init__(self, start: float | None = None) -> None:
        self.now = at("2025-11-25 08:00") if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class RecordingPoster:
    """A Poster that records every post (what the bot would have sent, per channel)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, ChiefMessage]] = []
        self.failures_left = 0

    async def post(self, channel_name: str, message: ChiefMessage) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("discord is having a bad day")
        self.posts.append((channel_name, message))

    def messages(self, channel: str | None = None) -> list[ChiefMessage]:
        return [m for c, m in self.posts if channel in (None, c)]

    def kinds(self, channel: str | None = None) -> list[str]:
        return [m.kind for m in self.messages(channel)]


def fields_of(message: ChiefMessage) -> dict[str, str]:
    return {f.name: f.value for f in message.fields}


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_QUIET_WATCH: dict[str, Any] = {
    "checks": {"host": {"enabled": False}},
    "anomaly": {"enabled": False},
    "metrics": {"enabled": False},
    "incidents": {"open_after": 3, "clear_after": 2, "reminder_minutes": 10,
                  "critical_role": "oncall"},
}


def make_settings(
    *,
    mlx_url: str,
    ollama_url: str,
    anthropic_url: str,
    data_dir: Path,
    database_url: str | None = None,
    redis_url: str | None = None,
    watch: Mapping[str, Any] | None = None,
    **sections: Any,
) -> Settings:
    """The seed's six routes on loopback stand-ins; the watch quiet unless told otherwise."""
    data: dict[str, Any] = {
        "nodes": {
            "mlx": {"kind": "openai", "base_url": f"{mlx_url}/v1"},
            "ollama": {"kind": "ollama", "base_url": ollama_url},
            "anthropic": {"kind": "anthropic", "base_url": anthropic_url, "api_key": "sk-test"},
        },
        "models": {
            "mlx-qwen": {"node": "mlx", "model": "mlx-community/Qwen2.5-14B-Instruct-4bit"},
            "mlx-phi": {"node": "mlx", "model": "mlx-community/phi-4-4bit"},
            "ollama-qwen": {"node": "ollama", "model": "qwen2.5:14b"},
            "ollama-coder": {"node": "ollama", "model": "qwen2.5-coder:14b"},
            "claude-sonnet": {"node": "anthropic", "model": "claude-sonnet-4-5"},
            "claude-haiku": {"node": "anthropic", "model": "claude-haiku-4-5"},
        },
        "routes": {
            "smart-agent": ["mlx-qwen", "ollama-qwen", "claude-sonnet"],
            "nellie-research": ["ollama-qwen", "claude-sonnet"],
            "chief-monitor": ["mlx-phi", "claude-haiku"],
            "gonzo-backend": ["ollama-coder", "claude-sonnet"],
            "cleo-frontend": ["mlx-phi", "claude-haiku"],
            "jax-creative": ["ollama-qwen", "claude-sonnet"],
        },
        "data_dir": str(data_dir),
        "timeouts": {"connect": 1, "first_token": 3, "total": 6},
        "health": {"probe_interval": 0.2, "probe_interval_open": 0.1, "probe_timeout": 0.5,
                   "cooldown": 30},
        "ledger": {"flush_interval": 0.05, "database_url": database_url},
        "cache": {"redis_url": redis_url},
        "watch": deep_merge(_QUIET_WATCH, watch or {}),
    }
    return Settings.model_validate(deep_merge(data, sections))
