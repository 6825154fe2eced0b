"""Fixtures of the gateway tests: the seed's nodes as stand-ins, a gateway over them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gateway.catalog import AgentEntry
from gateway.config import GatewaySettings
from inference.config import InferenceSettings
from store import Database, open_database
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.stack import seed_like_settings
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin, Script

NELLIE = AgentEntry("nellie", "smart-agent", "You are Nellie, the research specialist.")


@dataclass
class Nodes:
    mlx: OpenAIStandin
    ollama: OllamaStandin
    anthropic: AnthropicStandin


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    async with (
        OpenAIStandin(script=Script(reply="from mlx")) as mlx,
        OllamaStandin(script=Script(reply="from ollama")) as ollama,
        AnthropicStandin(script=Script(reply="from claude")) as anthropic,
    ):
        yield Nodes(mlx, ollama, anthropic)


@pytest.fixture
def settings(nodes: Nodes, tmp_path: Path) -> InferenceSettings:
    return seed_like_settings(mlx_url=f"{nodes.mlx.base_url}/v1", ollama_url=nodes.ollama.base_url,
                              anthropic_url=nodes.anthropic.base_url, data_dir=tmp_path)


StartGateway = Callable[..., AbstractAsyncContextManager[RunningGateway]]


@pytest.fixture
def start_gateway(nodes: Nodes, tmp_path: Path, gateway_settings: GatewaySettings
                  ) -> StartGateway:
    """``start_gateway(mlx_url=..., **sections)``: a gateway over other settings."""

    def start(*, mlx_url: str | None = None, **sections: Any
              ) -> AbstractAsyncContextManager[RunningGateway]:
        settings = seed_like_settings(
            mlx_url=mlx_url or f"{nodes.mlx.base_url}/v1", ollama_url=nodes.ollama.base_url,
            anthropic_url=nodes.anthropic.base_url, data_dir=tmp_path, **sections)
        return running_gateway(settings, agents=[NELLIE], gateway=gateway_settings)

    return start


@pytest.fixture
def gateway_settings() -> GatewaySettings:
    return GatewaySettings(max_body_bytes=64 * 1024)


@pytest.fixture
async def gw(settings: InferenceSettings, gateway_settings: GatewaySettings
             ) -> AsyncIterator[RunningGateway]:
    async with running_gateway(settings, agents=[NELLIE], gateway=gateway_settings) as running:
        yield running


@pytest_asyncio.fixture
async def db(store_url: str | None, tmp_path: Path) -> AsyncIterator[Database]:
    """The ledger's database: SQLite in the data dir, then a fresh PostgreSQL one."""
    database = await open_database(store_url, tmp_path)
    yield database
    await database.close()


@pytest_asyncio.fixture
async def pg_db(pg_database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh PostgreSQL database (what replicas share in production)."""
    database = await open_database(pg_database_url, tmp_path)
    yield database
    await database.close()
