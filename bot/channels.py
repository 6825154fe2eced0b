"""The channel ↔ agent map, and the places (channels, threads) the bot speaks in.

By default each agent owns the channel named in its persona file (``channel:``, default
its name); ``discord.channels`` in the config renames them. A persona file plus a
channel of that name is all a new agent needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import discord

from bot.config import DiscordSettings
from personas.schema import Roster

__all__ = ["ChannelMap", "Place", "conversation_id", "parent_channel", "place_name"]

Place = discord.TextChannel | discord.Thread


@dataclass(frozen=True, slots=True)
class ChannelMap:
    by_agent: Mapping[str, str]  # agent -> channel name
    alerts: str

    @classmethod
    def build(cls, roster: Roster, settings: DiscordSettings) -> ChannelMap:
        names = {p.name: settings.channels.get(p.name, p.channel) for p in roster}
        return cls(names, settings.alerts_channel)

    def agent_for(self, channel_name: str | None) -> str | None:
        if channel_name is None:
            return None
        return next((a for a, name in self.by_agent.items() if name == channel_name), None)

    def channel_of(self, agent: str) -> str:
        return self.by_agent[agent]

    def agent_of_place(self, place: object) -> str | None:
        """The agent whose channel this is (a thread counts as its parent channel)."""
        return self.agent_for(place_name(place))

    def find(self, guild: discord.Guild, agent: str) -> discord.TextChannel | None:
        return discord.utils.get(guild.text_channels, name=self.by_agent.get(agent, ""))

    def alerts_channel(self, guild: discord.Guild) -> discord.TextChannel | None:
        return discord.utils.get(guild.text_channels, name=self.alerts)


def parent_channel(place: object) -> discord.TextChannel | None:
    if isinstance(place, discord.TextChannel):
        return place
    if isinstance(place, discord.Thread) and isinstance(place.parent, discord.TextChannel):
        return place.parent
    return None


def place_name(place: object) -> str | None:
    """The channel name that decides the agent: the channel's, or a thread's parent's."""
    parent = parent_channel(place)
    return parent.name if parent is not None else None


def conversation_id(place_id: int, agent: str) -> str:
    """The team engine's conversation of ``agent`` in a channel or thread."""
    return f"discord:{place_id}:{agent}"
