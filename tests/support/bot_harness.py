"""The real homecrew bot against the Discord stand-in, with stand-in model nodes.

One OpenAI-compatible stand-in per agent route (so a test scripts each agent on its own),
optionally a shared Ollama backup as every route's second step, the real chain, the real
team engine and store (SQLite by default; PostgreSQL / Redis when given), and the real
``homecrew.compose.open_bot`` + ``HomecrewBot``. What users see is read from the stand-in::

    async with homecrew_world(tmp_path) as world:
        world.node("nellie").script = Script(reply="MLX is Apple's array framework.")
        replies = await world.converse("nellie", "what is MLX?")
        assert replies[-1].author_name == "Nellie"

``world.restart()`` stops the bot and starts a new one over the same nodes, Discord and
database (the conversation store persists across it).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio

from bot.client import HomecrewBot
from bot.context import BotContext
from homecrew.compose import open_bot
from homecrew.settings import Settings
from team.chief import ChiefCheck
from tests.support.discord_standin import (
    StandinChannel,
    StandinDiscord,
    StoredMessage,
    VisibleMessage,
    running_bot,
)
from tests.support.discord_standin.payloads import channel_payload
from tests.support.standins import OllamaStandin, OpenAIStandin, Script

__all__ = [
    "AGENT_ROUTES",
    "BotWorld",
    "WorldOptions",
    "bot_world",
    "homecrew_world",
    "world_settings",
]

AGENT_ROUTES = {
    "skip": "smart-agent",
    "nellie": "nellie-research",
    "chief": "chief-monitor",
    "gonzo": "gonzo-backend",
    "cleo": "cleo-frontend",
    "jax": "jax-creative",
}
BACKUP_MODEL = "qwen2.5:14b"


@dataclass
class WorldOptions:
    database_url: str | None = None
    redis_url: str | None = None
    backup: bool = False  # a shared Ollama node as every route's second step
    discord: dict[str, Any] = field(default_factory=dict)
    team: dict[str, Any] = field(default_factory=dict)
    timeouts: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # agent -> (url, model)
    extra: dict[str, Any] = field(default_factory=dict)  # more top-level settings sections
    node_extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent -> node keys
    chief: ChiefCheck | None = None
    watch: bool = False  # run Chief's watch in the bot (scheduler and metrics off)
    heartbeat_ms: int = 500
    agents: dict[str, str] = field(default_factory=lambda: dict(AGENT_ROUTES))  # -> route
    standin: dict[str, Any] = field(default_factory=dict)  # StandinConfig overrides


def world_settings(
    *, urls: Mapping[str, tuple[str, str]], data_dir: Path, guild_id: int, token: str,
    options: WorldOptions, backup_url: str | None = None,
) -> Settings:
    """Settings with one node per agent route (``urls``: agent -> (base URL, model))."""
    nodes: dict[str, Any] = {}
    models: dict[str, Any] = {}
    routes: dict[str, list[str]] = {}
    for agent, route in options.agents.items():
        url, model = urls[agent]
        nodes[f"{agent}-node"] = {"kind": "openai", "base_url": url,
                                  **options.node_extra.get(agent, {})}
        models[f"{agent}-local"] = {"node": f"{agent}-node", "model": model,
                                    "context_window": 8192}
        routes[route] = [f"{agent}-local"]
    if backup_url is not None:
        nodes["backup"] = {"kind": "ollama", "base_url": backup_url}
        models["backup-qwen"] = {"node": "backup", "model": BACKUP_MODEL}
        for steps in routes.values():
            steps.append("backup-qwen")
    data: dict[str, Any] = {
        "nodes": nodes, "models": models, "routes": routes, "data_dir": str(data_dir),
        "timeouts": {"connect": 1, "first_token": 3, "total": 8, **options.timeouts},
        "health": {"probe_interval": 0.5, "probe_interval_open": 0.2, "probe_timeout": 0.5,
                   "cooldown": 30},
        "ledger": {"flush_interval": 0.05, "database_url": options.database_url},
        "cache": {"redis_url": options.redis_url},
        "team": {"halt_poll_interval": 0.1, **options.team},
        "discord": {"token": token, "guild_ids": [guild_id], "shutdown_grace": 3.0,
                    **options.discord},
        **options.extra,
    }
    return Settings.model_validate(data)


class BotWorld:
    def __init__(self, discord: StandinDiscord, nodes: dict[str, OpenAIStandin],
                 backup: OllamaStandin | None, settings: Settings, options: WorldOptions) -> None:
        self.discord = discord
        self.nodes = nodes
        self.backup = backup
        self.settings = settings
        self.options = options
        self._bot: HomecrewBot | None = None
        self._running = AsyncExitStack()

    # -- the bot ----------------------------------------------------------------------------
    @property
    def bot(self) -> HomecrewBot:
        assert self._bot is not None, "the bot is not running"
        return self._bot

    @property
    def ctx(self) -> BotContext:
        return self.bot.ctx

    async def start(self) -> HomecrewBot:
        stack = AsyncExitStack()
        bot = await stack.enter_async_context(
            open_bot(self.settings, env={}, chief=self.options.chief,
                     watch=self.options.watch, watch_schedule=False, serve_metrics=False))
        await stack.enter_async_context(running_bot(self.discord, bot))
        self._running = stack
        self._bot = bot
        return bot

    async def stop(self) -> None:
        await self._running.aclose()
        self._bot = None

    async def restart(self) -> HomecrewBot:
        await self.stop()
        return await self.start()

    async def user_thread(self, parent: str, name: str, user: str = "alice") -> StandinChannel:
        """A thread a person opens under ``parent`` (THREAD_CREATE reaches the bot)."""
        world = self.discord.state.world
        thread = world.add_thread(world.channel(parent), name, world.user(user))
        body = channel_payload(thread, world.guild_id)
        await self.discord.state.gateway.dispatch("THREAD_CREATE", {**body, "newly_created": True})
        guild = self.bot.get_guild(world.guild_id)
        assert guild is not None
        await self.discord.wait_until(lambda: guild.get_thread(thread.id) is not None)
        return thread

    def node(self, agent: str) -> OpenAIStandin:
        return self.nodes[agent]

    def calls(self, agent: str) -> int:
        """Chat completions ``agent``'s node has received (probes not counted)."""
        return len(self.nodes[agent].requests_to("/v1/chat/completions"))

    def prompt(self, agent: str, index: int = -1) -> str:
        """Every message of one request to ``agent``'s node, joined."""
        body = self.nodes[agent].requests_to("/v1/chat/completions")[index].body
        return "\n".join(str(m["content"]) for m in body["messages"])

    # -- talking ----------------------------------------------------------------------------
    async def converse(
        self, channel: int | str, text: str, *, user: str = "alice",
        reference: int | StoredMessage | None = None, timeout: float = 15.0,  # noqa: ASYNC109
    ) -> list[VisibleMessage]:
        """Post as ``user`` and wait until the bot's answer there is complete."""
        sent = await self.discord.user_message(channel, user, text, reference=reference)
        await self.settled(sent, timeout=timeout)
        return self.answers(channel, after=sent.id)

    async def settled(self, sent: StoredMessage, *, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Until something was posted after ``sent`` in its place and no reply runs there."""
        place = sent.channel_id

        def done() -> bool:
            posted = any(m.id > sent.id and m.is_bot for m in self.discord.channel_view(place))
            return posted and not self.ctx.tracker.in_place(place)

        await self.discord.wait_until(done, timeout=timeout)

    async def idle(self, *, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        await self.discord.wait_until(lambda: len(self.ctx.tracker) == 0, timeout=timeout)

    def answers(self, channel: int | str, *, after: int = 0) -> list[VisibleMessage]:
        """What the bot (or its webhooks) shows in the channel after message ``after``."""
        return [m for m in self.discord.channel_view(channel) if m.id > after and m.is_bot]

    def text(self, channel: int | str, *, after: int = 0) -> str:
        return "\n".join(m.content for m in self.answers(channel, after=after))


@asynccontextmanager
async def homecrew_world(
    tmp_path: Path, options: WorldOptions | None = None, *, start: bool = True,
) -> AsyncIterator[BotWorld]:
    options = options or WorldOptions()
    async with AsyncExitStack() as stack:
        discord = await stack.enter_async_context(
            StandinDiscord(heartbeat_interval_ms=options.heartbeat_ms, **options.standin))
        nodes: dict[str, OpenAIStandin] = {}
        urls: dict[str, tuple[str, str]] = {}
        for agent in options.agents:
            node = await stack.enter_async_context(OpenAIStandin(
                models=(f"{agent}-model",),
                script=Script(reply=f"{agent.capitalize()} here: all good.")))
            nodes[agent] = node
            urls[agent] = options.nodes.get(agent, (f"{node.base_url}/v1", f"{agent}-model"))
        backup = None
        if options.backup:
            backup = await stack.enter_async_context(OllamaStandin(
                models=(BACKUP_MODEL,), script=Script(reply="Backup node here.")))
        settings = world_settings(urls=urls, data_dir=tmp_path, guild_id=discord.guild_id,
                                  token=discord.token, options=options,
                                  backup_url=backup.base_url if backup else None)
        world = BotWorld(discord, nodes, backup, settings, options)
        try:
            if start:
                await world.start()
            yield world
        finally:
            with contextlib.suppress(Exception):
                await world.stop()


@pytest_asyncio.fixture
async def bot_world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The bot running with default options (SQLite, in-process cache, no backup node)."""
    async with homecrew_world(tmp_path) as world:
        yield world
