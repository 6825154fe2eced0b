"""The bot's end-to-end fixtures (real bot, Discord stand-in, stand-in model nodes)."""

from tests.support.bot_harness import bot_world
from tests.support.discord_standin.fixtures import discord_standin

__all__ = ["bot_world", "discord_standin"]
