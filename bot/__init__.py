"""The Discord bot: client, channel map, webhooks, streaming and splitting, gates, doctor.

Import the parts from their modules (``homecrew.compose.open_bot``, ``bot.client.HomecrewBot``);
this package's top level stays light because ``homecrew.settings`` imports its config.
"""

from bot.config import DiscordSettings

__all__ = ["DiscordSettings"]
