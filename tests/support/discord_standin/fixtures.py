"""pytest fixtures: a started stand-in, and starting a discord.py bot against it until ready.

Use from the root conftest with ``pytest_plugins = ["tests.support.discord_standin.fixtures"]``
or by importing `discord_standin` / `start_bot` into a conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TypeVar

import discord
import pytest_asyncio

from .bot_runner import running_bot
from .server import StandinDiscord

__all__ = ["discord_standin", "start_bot"]

ClientT = TypeVar("ClientT", bound=discord.Client)
TEST_HEARTBEAT_MS = 500


@pytest_asyncio.fixture
async def discord_standin() -> AsyncIterator[StandinDiscord]:
    """A started stand-in with discord.py pointed at it (restored afterwards)."""
    async with StandinDiscord(heartbeat_interval_ms=TEST_HEARTBEAT_MS) as standin:
        yield standin


@pytest_asyncio.fixture
async def start_bot(
    discord_standin: StandinDiscord,
) -> AsyncIterator[Callable[[ClientT], Awaitable[ClientT]]]:
    """`bot = await start_bot(bot)`: started against `discord_standin`, closed at teardown."""
    async with AsyncExitStack() as stack:

        async def start(client: ClientT) -> ClientT:
            return await stack.enter_async_context(running_bot(discord_standin, client))

        yield start
