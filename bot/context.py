"""What every cog and reply shares: the team engine, the chain, the channel map, webhooks,
the edit throttle, the reply tracker and the redactor. Built once by the bot."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import discord

from bot.channels import ChannelMap, Place, parent_channel, place_name
from bot.config import CHANNEL_EDIT_BURST, TYPING_INTERVAL_S, DiscordSettings
from bot.permissions import actor_for, is_admin
from bot.posting import BotPoster, Poster, Speaker, WebhookPool, WebhookPoster
from bot.redaction import Redactor
from bot.references import Asked, PlaceActivity, ReferencedPoster
from bot.throttle import EditThrottle
from bot.tracker import ReplyTracker
from inference.runtime import InferenceStack
from personas.schema import Persona, Roster
from team.actors import Actor
from team.engine import TeamEngine
from watch.engine import Watch

if TYPE_CHECKING:  # the MCP SDK loads only when tools are opened
    from team.tools import Toolbox

__all__ = ["BotContext", "TypingPulse"]

log = logging.getLogger(__name__)


class TypingPulse:
    """The typing indicator, at most once per channel per ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: dict[int, float] = {}

    async def trigger(self, place: Place) -> None:
        now = time.monotonic()
        if now - self._last.get(place.id, -self._interval) < self._interval:
            return
        self._last[place.id] = now
        try:
            await place.typing()
        except Exception as exc:  # refused, or Discord unreachable: the reply goes on
            log.debug("typing indicator failed in %s: %s", place.id, type(exc).__name__)


@dataclass
class BotContext:
    settings: DiscordSettings
    engine: TeamEngine
    stack: InferenceStack
    redact: Redactor
    admin_ids: tuple[str, ...] = ()  # Discord user ids with admin rights (team.admins)
    local_share_target: float = 0.95  # drawn on the /spend chart
    watch: Watch | None = None  # Chief's watch, when it runs in this process (/alerts)
    start_watch_when_ready: bool = True  # start its scheduler on the first on_ready
    toolbox: Toolbox | None = None  # the agents' MCP tools (None: no persona has a grant)
    channels: ChannelMap = field(init=False)
    webhooks: WebhookPool = field(init=False)
    throttle: EditThrottle = field(init=False)
    tracker: ReplyTracker = field(default_factory=ReplyTracker)
    typing: TypingPulse = field(init=False)
    activity: PlaceActivity = field(default_factory=PlaceActivity)

    def __post_init__(self) -> None:
        s = self.settings
        self.channels = ChannelMap.build(self.engine.roster, s)
        self.webhooks = WebhookPool(s.webhook_name, s.webhooks_per_channel)
        self.throttle = EditThrottle(per_second=s.edits_per_second,
                                     channel_per_second=s.channel_edits_per_second,
                                     channel_burst=CHANNEL_EDIT_BURST)
        self.typing = TypingPulse(TYPING_INTERVAL_S)

    @property
    def roster(self) -> Roster:
        return self.engine.roster

    def is_admin(self, user: discord.abc.User) -> bool:
        return is_admin(user, role_name=self.settings.admin_role, admin_ids=self.admin_ids)

    def actor(self, user: discord.abc.User) -> Actor:
        return actor_for(user, role_name=self.settings.admin_role, admin_ids=self.admin_ids)

    @staticmethod
    def speaker(persona: Persona) -> Speaker:
        return Speaker(persona.display_name, persona.avatar_url)

    def footer_on(self, place: object) -> bool:
        name = place_name(place)
        return name is not None and self.settings.footer_in(name)

    async def poster_for(self, place: Place, persona: Persona, *,
                         reference: discord.Message | None = None) -> Poster:
        """The persona's webhook in this place, else the bot speaking for it.

        An answer to ``reference`` says which message it answers: the bot's own post is a
        Discord reply; a webhook post starts with the asker's line when it would not sit
        right under the question (:mod:`bot.references`)."""
        parent = parent_channel(place)
        hook = await self.webhooks.get(parent) if parent is not None else None
        speaker = self.speaker(persona)
        if hook is None:
            return BotPoster(place, place.id, speaker, reference=reference)
        thread = place if isinstance(place, discord.Thread) else None
        poster = WebhookPoster(hook, speaker, thread)
        if reference is None:
            return poster
        place_id = place.id
        return ReferencedPoster(poster, Asked.of(reference), self.activity,
                                needed=lambda: len(self.tracker.in_place(place_id)) > 1)

    def persona_named(self, display_name: str) -> Persona | None:
        """The persona a webhook message was posted as (by its display name)."""
        return next((p for p in self.roster if p.display_name == display_name), None)
