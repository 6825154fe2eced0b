"""Fixtures of the team tests: one scripted OpenAI-compatible node serving every agent's
route through the real chain, the real store (SQLite and PostgreSQL) and the real engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from homecrew.settings import Settings
from inference.runtime import InferenceStack
from team.engine import TeamEngine
from tests.support.standins import OpenAIStandin, Script
from watch.gate_data import ManualChiefCheck

AGENT_ROUTES = {
    "skip": "smart-agent",
    "nellie": "nellie-research",
    "chief": "chief-monitor",
    "gonzo": "gonzo-backend",
    "cleo": "cleo-frontend",
    "jax": "jax-creative",
}


def team_settings(
    base_url: str, data_dir: Path, database_url: str | None = None, **team: Any
) -> Settings:
    """Every agent route on one loopback node; the ledger (and team) store as given."""
    return Settings.model_validate({
        "nodes": {"local": {"kind": "openai", "base_url": f"{base_url}/v1"}},
        "models": {"local-qwen": {"node": "local", "model": "qwen2.5-14b",
                                  "context_window": team.pop("context_window", 4096)}},
        "routes": {route: ["local-qwen"] for route in AGENT_ROUTES.values()},
        "data_dir": str(data_dir),
        "timeouts": {"connect": 1, "first_token": 3, "total": 6},
        "health": {"probe_timeout": 0.5, "cooldown": 30},
        "ledger": {"flush_interval": 0.05, "database_url": database_url},
        "team": {"halt_poll_interval": 0.05, **team},
    })


@pytest.fixture
async def node() -> AsyncIterator[OpenAIStandin]:
    async with OpenAIStandin(script=Script(reply="Howdy from the stand-in.")) as server:
        yield server


@pytest.fixture
def database_url(store_url: str | None) -> str | None:
    return store_url


@pytest.fixture
def chief() -> ManualChiefCheck:
    return ManualChiefCheck()


@pytest.fixture
def settings(node: OpenAIStandin, tmp_path: Path, database_url: str | None) -> Settings:
    return team_settings(node.base_url, tmp_path, database_url)


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[InferenceStack]:
    async with InferenceStack.open(settings, probes=False) as opened:
        yield opened


@pytest.fixture
async def engine(
    stack: InferenceStack, settings: Settings, chief: ManualChiefCheck
) -> AsyncIterator[TeamEngine]:
    async with TeamEngine.open(stack, settings.team, chief=chief) as opened:
        yield opened
