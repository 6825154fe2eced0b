"""Fixtures of the watch tests: stand-in nodes for the seed's three node kinds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin, Script


@pytest.fixture
async def mlx() -> AsyncIterator[OpenAIStandin]:
    async with OpenAIStandin(script=Script(reply="mlx here")) as server:
        yield server


@pytest.fixture
async def ollama() -> AsyncIterator[OllamaStandin]:
    """Has pulled the models ``tests.watch.helpers.make_settings`` serves from it."""
    pulled = ["qwen2.5:14b", "qwen2.5-coder:14b", "llama3.2:latest"]
    async with OllamaStandin(models=pulled, script=Script(reply="ollama here")) as server:
        yield server


@pytest.fixture
async def claude() -> AsyncIterator[AnthropicStandin]:
    async with AnthropicStandin(script=Script(reply="claude here")) as server:
        yield server
