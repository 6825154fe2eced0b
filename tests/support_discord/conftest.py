"""The tiny bot every stand-in test talks to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.support.discord_standin import StandinDiscord
from tests.support_discord.tiny_bot import TinyBot

StartBot = Callable[[TinyBot], Awaitable[TinyBot]]


@pytest.fixture
async def bot(discord_standin: StandinDiscord, start_bot: StartBot) -> TinyBot:
    return await start_bot(TinyBot(discord_standin.guild_id))
