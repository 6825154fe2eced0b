"""`StandinDiscord`: a local Discord (REST v10 + gateway) that an unmodified discord.py can use."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from .events import (
    CommandsSynced,
    GatewayIdentified,
    GatewayResumed,
    InteractionResponse,
    MessageEdit,
    RecordedEvent,
    RequestRejected,
    SentMessage,
)
from .faults import FaultRule
from .gateway_session import GatewaySession
from .interactions import StoredInteraction
from .messages import StoredMessage
from .patching import discord_pointed_at
from .payloads import channel_payload
from .ratelimits import RateLimitRule, WindowLimit
from .recorder import Recorder
from .rest_app import build_app
from .state import StandinState
from .user_actions import ListenerProbe, UserActions
from .views import VisibleMessage, visible
from .world import ChannelRef, StandinChannel, StandinConfig, StandinRole, StandinUser, UserRef

__all__ = ["StandinDiscord"]

E = TypeVar("E", bound=RecordedEvent)


class StandinDiscord(UserActions):
    """`async with StandinDiscord(...) as standin:` -- discord.py is pointed at it inside."""

    def __init__(
        self, config: StandinConfig | None = None, *, patch_discord: bool = True, **overrides: Any
    ) -> None:
        config = config or StandinConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.state = StandinState(config)
        self.listener_probe: ListenerProbe | None = None
        self.listener_wait = 1.0
        self._patch = patch_discord
        self._runner: web.AppRunner | None = None
        self._patches = ExitStack()
        self.base_url = ""

    # -- life cycle

    async def start(self) -> Self:
        runner = web.AppRunner(build_app(self.state), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.state.store.cdn_base = self.base_url
        self.state.gateway.url = f"ws://127.0.0.1:{port}/ws"
        self.state.gateway.resume_url = f"ws://127.0.0.1:{port}/ws-resume"
        if self._patch:
            self._patches.enter_context(
                discord_pointed_at(self.api_base, self.gateway_url, f"{self.base_url}/cdn")
            )
        return self

    async def stop(self) -> None:
        self._patches.close()
        if self._runner is not None:
            await self.state.gateway.close_all()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.state.gateway.url

    # -- the world

    @property
    def config(self) -> StandinConfig:
        return self.state.config

    @property
    def token(self) -> str:
        return self.state.config.token

    @property
    def guild_id(self) -> int:
        return self.state.world.guild_id

    @property
    def application_id(self) -> int:
        return self.state.world.application_id

    @property
    def bot_user(self) -> StandinUser:
        return self.state.world.bot_user

    def channel(self, ref: ChannelRef) -> StandinChannel:
        return self.state.world.channel(ref)

    def channel_id(self, ref: ChannelRef) -> int:
        return self.state.world.channel(ref).id

    def user(self, ref: UserRef) -> StandinUser:
        return self.state.world.user(ref)

    def role(self, name: str) -> StandinRole:
        return self.state.world.role(name)

    def add_user(self, name: str, *, roles: tuple[str, ...] = ()) -> StandinUser:
        return self.state.world.add_user(name, roles=roles)

    async def add_channel(self, name: str, *, topic: str | None = None) -> StandinChannel:
        """Create a text channel and dispatch CHANNEL_CREATE."""
        channel = self.state.world.add_channel(name, topic=topic)
        await self.state.gateway.dispatch(
            "CHANNEL_CREATE", channel_payload(channel, self.state.world.guild_id)
        )
        return channel

    # -- recorded events

    @property
    def recorder(self) -> Recorder:
        return self.state.recorder

    def mark(self) -> int:
        return self.state.recorder.mark()

    def events(self, kind: type[E], *, since: int = 0) -> list[E]:
        return self.state.recorder.events(kind, since=since)

    async def wait_for(
        self, predicate: Callable[[RecordedEvent], bool], *, timeout: float = 5.0, since: int = 0  # noqa: ASYNC109 (test API takes timeout=)
    ) -> RecordedEvent:
        return await self.state.recorder.wait_for(predicate, timeout=timeout, since=since)

    async def wait_for_event(
        self, kind: type[E], predicate: Callable[[E], bool] | None = None, *,
        timeout: float = 5.0, since: int = 0,  # noqa: ASYNC109 (test API takes timeout=)
    ) -> E:
        return await self.state.recorder.wait_for_event(
            kind, predicate, timeout=timeout, since=since
        )

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 5.0, poll: float = 0.01  # noqa: ASYNC109
    ) -> None:
        """Until `condition()` holds (checked on every recorded event and every `poll` s)."""
        await self.state.recorder.wait_until(condition, timeout=timeout, poll=poll)

    async def wait_for_response(
        self, interaction: StoredInteraction, *, timeout: float = 5.0  # noqa: ASYNC109 (test API takes timeout=)
    ) -> InteractionResponse:
        return await self.wait_for_event(
            InteractionResponse, lambda r: r.interaction_id == interaction.id, timeout=timeout
        )

    def sent_messages(self, channel: ChannelRef | None = None) -> list[SentMessage]:
        wanted = None if channel is None else self.channel_id(channel)
        return [m for m in self.events(SentMessage) if wanted in (None, m.channel_id)]

    def edits(self, message_id: int | None = None) -> list[MessageEdit]:
        return [e for e in self.events(MessageEdit) if message_id in (None, e.message_id)]

    def errors(self) -> list[RequestRejected]:
        return self.events(RequestRejected)

    def command_syncs(self, scope: str | None = None) -> list[CommandsSynced]:
        return [s for s in self.events(CommandsSynced) if scope in (None, s.scope)]

    # -- what users see

    def message(self, message_id: int) -> StoredMessage:
        return self.state.store.get(message_id)

    def interaction(self, interaction_id: int) -> StoredInteraction | None:
        return self.state.interactions.find(interaction_id)

    def channel_view(
        self, channel: ChannelRef, *, include_ephemeral: bool = False
    ) -> list[VisibleMessage]:
        """The channel's messages, oldest first, each as it looks now (after edits)."""
        channel_id = self.channel_id(channel)
        return [
            visible(m) for m in self.state.store.in_channel(channel_id)
            if include_ephemeral or not m.ephemeral
        ]

    def channel_texts(self, channel: ChannelRef) -> list[str]:
        return [m.content for m in self.channel_view(channel)]

    # -- gateway control

    @property
    def session(self) -> GatewaySession | None:
        return self.state.gateway.current

    @property
    def intents(self) -> int | None:
        identified = self.events(GatewayIdentified)
        return identified[-1].intents if identified else None

    @property
    def identify_count(self) -> int:
        return len(self.events(GatewayIdentified))

    @property
    def resume_count(self) -> int:
        return len(self.events(GatewayResumed))

    def gateway_connected(self) -> bool:
        return self.state.gateway.is_connected()

    async def drop_gateway(self, *, code: int = 4000, abrupt: bool = False) -> int:
        """Close the bot's gateway socket(s) server-side; returns a mark for `wait_resumed`."""
        mark = self.mark()
        await self.state.gateway.drop(code=code, abrupt=abrupt)
        return mark

    async def wait_resumed(self, *, since: int = 0, timeout: float = 10.0) -> GatewayResumed:  # noqa: ASYNC109 (test API takes timeout=)
        return await self.wait_for_event(GatewayResumed, since=since, timeout=timeout)

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT; the client should close and RESUME."""
        await self.state.gateway.send_op(7, None)

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with resumable=False the client must IDENTIFY again."""
        await self.state.gateway.send_op(9, resumable, invalidate=not resumable)

    # -- rate limits

    def rate_limit_next(
        self, route: str, retry_after: float = 0.2, global_: bool = False, *, count: int = 1
    ) -> RateLimitRule:
        """Answer the next `count` requests matching `route` with 429.

        `route` is a glob over the path after `/api/v10`, optionally prefixed by the method,
        e.g. ``"PATCH /channels/*/messages/*"`` or ``"POST /channels/{channel_id}/messages"``.
        """
        return self.state.ratelimits.add(route, retry_after, global_, count)

    def limit_route(self, route: str, *, limit: int, per: float) -> WindowLimit:
        """Enforce a Discord-like bucket from now on: over `limit` requests per `per` seconds
        per channel/webhook (first id in the path) get a 429 with the right `retry_after`.

        E.g. ``limit_route("PATCH /channels/*/messages/*", limit=5, per=5.0)``.
        """
        return self.state.ratelimits.add_window(route, limit, per)

    # -- faults

    def fail_rest(
        self, route: str, *, status: int = 500, code: int = 0, message: str | None = None,
        body: Any = None, reset: bool = False, count: int | None = None,
        seconds: float | None = None,
    ) -> FaultRule:
        """Answer requests matching `route` with `status` (Discord's error body, or `body`),
        or drop their connection (`reset`), for `count` requests / `seconds` / until cleared.
        """
        until = None if seconds is None else time.monotonic() + seconds
        return self.state.faults.add(FaultRule(
            route, status=status, code=code, message=message or f"{status}: stand-in fault",
            body=body, reset=reset, remaining=count, until=until))

    def clear_faults(self) -> None:
        self.state.faults.clear()

    async def send_raw_dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Dispatch `data` as-is (e.g. a malformed payload discord.py cannot parse)."""
        await self.state.gateway.dispatch(event, data)
