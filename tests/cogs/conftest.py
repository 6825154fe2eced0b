"""The command cogs' end-to-end fixtures (real bot, Discord stand-in, stand-in nodes)."""

from tests.support.bot_harness import bot_world

__all__ = ["bot_world"]
