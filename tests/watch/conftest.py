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
    async with OllamaStandin(script=Script(reply="ollama here")) as server:
        yield server


@pytest.fixture
async def claude() -> AsyncIterator[AnthropicStandin]:
    async with AnthropicStandin(script=Script(reply="claude here")) as server:
        yield server
