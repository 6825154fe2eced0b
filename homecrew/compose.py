"""The composition root: the one place the process is put together.

settings → store and inference stack → Chief's watch → team engine → Discord bot::

    async with open_bot(settings, env=os.environ) as bot:
        await bot.start(token)

Every package below only receives what it needs: the team engine gets Chief's gate through
the :class:`team.chief.ChiefCheck` protocol (implemented by :class:`watch.gate.ChiefClearance`),
the watch gets the team board's halt as a plain hook, and the bot gets its cogs as a loader
(:func:`cogs.load_cogs`); none of them imports the one above it. The CLI
(``homecrew bot``: :func:`serve`; ``homecrew task …``: :func:`open_task_board`), the tests'
bot harness and ``bench/bot.py`` (:func:`open_bot`) all build through here.

When any persona has tool grants, the agents' MCP servers (``mcp_servers:`` and the built-in
``homecrew`` one) are opened for the bot's lifetime and given to the engine
(:func:`homecrew.builtin_tools.open_tools`, :meth:`TeamEngine.use_tools`); they start in the
background and never delay the bot's readiness.

With ``gateway.enabled``, the bot's process also serves the gateway (``homecrew serve``)
over the same inference stack (:func:`homecrew.gateway_compose.open_gateway`).

Everything opened is closed in reverse order on exit; the bot's replies get
``discord.shutdown_grace`` seconds to post their last edit before the engine stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from homecrew.heap import frozen_start_up
from homecrew.settings import Settings
from inference.config import InferenceSettings
from inference.errors import ConfigError
from inference.health import HealthBoard
from inference.node_http import NodeHttp
from inference.probes import Prober
from inference.runtime import InferenceStack
from personas.loader import load_policy, load_roster
from store import open_database
from team.actors import Actor
from team.board import TaskBoard
from team.chief import ChiefCheck, RouteHealthCheck
from team.engine import TeamEngine
from team.halt import HaltSwitch
from team.store import migrate as migrate_team
from watch.engine import HaltHook, Watch
from watch.gate import ChiefClearance
from watch.incidents import Incident

if TYPE_CHECKING:  # the Discord side is imported when a bot is built (CLI commands stay light)
    from bot.client import CogFactory, HomecrewBot
    from bot.config import DiscordSettings
    from team.redaction import Redactor
    from team.tools import Toolbox

__all__ = [
    "Halter", "discord_settings", "halt_production", "open_bot", "open_task_board",
    "probed_route_check", "serve",
]


def discord_settings(settings: Settings, env: Mapping[str, str]) -> DiscordSettings:
    """The ``discord`` section with the token and guild filled in from the environment."""
    return settings.discord.with_environment(env)


class Halter(Protocol):
    """What :func:`halt_production` needs: the team board's ``halt``."""

    async def halt(self, actor: Actor, reason: str) -> object: ...


def halt_production(board: Halter, *, actor: str = "chief") -> HaltHook:
    """An ``on_critical`` hook halting the Production Division in Chief's name."""

    async def hook(incident: Incident) -> object:
        return await board.halt(Actor.agent(actor), f"RED ALERT: {incident.title}")

    return hook


def probed_route_check(settings: InferenceSettings, http: NodeHttp) -> RouteHealthCheck:
    """The gate's fallback check that probes every node first (for one-shot processes)."""
    board = HealthBoard(settings.health, settings.nodes)
    prober = Prober(settings.nodes, board, settings.health, http)

    def serving() -> dict[str, bool]:
        return {route: any(board.would_allow(settings.models[alias].node) for alias in steps)
                for route, steps in settings.routes.items()}

    return RouteHealthCheck(serving, prober.probe_all)


@asynccontextmanager
async def open_task_board(settings: Settings) -> AsyncIterator[TaskBoard]:
    """The task board alone (``homecrew task …``): store → roster and rules → halt → board,
    with the routes' probed health as the gate's check (no watch runs in a one-shot CLI)."""
    roster = load_roster(settings.team.personas_dir)
    policy = load_policy(settings.team.rules_file, roster)
    db = await open_database(settings.ledger.database_url, settings.data_dir)
    try:
        await migrate_team(db)
        halt = HaltSwitch(db)
        await halt.refresh()
        async with NodeHttp.open() as http:
            yield TaskBoard(db, roster, policy, halt, probed_route_check(settings, http))
    finally:
        await db.close()


@asynccontextmanager
async def open_bot(
    settings: Settings,
    *,
    env: Mapping[str, str],
    chief: ChiefCheck | None = None,
    watch: bool = True,
    watch_schedule: bool = True,
    serve_metrics: bool | None = None,
    probes: bool = True,
    extra_cogs: Sequence[CogFactory] = (),
) -> AsyncIterator[HomecrewBot]:
    """A ready-to-start bot over a fresh chain, watch and team engine.

    While it is open, every log handler of the root logger masks the set-up's secrets.

    ``chief`` replaces the deployment gate's data (default: the watch's, or the routes'
    health without a watch); the watch's scheduler starts once the bot is ready to post
    (so a missed report it catches up on can be posted); ``watch_schedule=False`` leaves it
    off, and ``serve_metrics`` overrides ``watch.metrics.enabled``; ``extra_cogs`` are
    loaded with the others, their slash commands synced in the same single sync.
    """
    from bot.chief_poster import ChiefPoster
    from bot.context import BotContext
    from bot.redaction import Redactor, install_redaction, secrets_of
    from bot.runner import open_client
    from cogs import load_cogs

    config = discord_settings(settings, env)
    if not config.guild_ids:
        raise ConfigError("no guild configured: set DISCORD_GUILD_ID in .env (or "
                          "discord.guild_ids in the config)", key="discord.guild_ids")
    redactor = Redactor(secrets_of(settings, env))
    poster = ChiefPoster(critical_role=settings.watch.incidents.critical_role)
    async with AsyncExitStack() as exits:
        exits.callback(install_redaction(redactor))
        if settings.gateway.enabled:
            from homecrew.gateway_compose import open_gated_stack, open_gateway

            gated = await exits.enter_async_context(open_gated_stack(settings, probes=probes))
            stack = gated.stack
            await exits.enter_async_context(open_gateway(settings, gated))
        else:
            stack = await exits.enter_async_context(
                InferenceStack.open(settings, probes=probes))
        watcher: Watch | None = None
        if watch:
            watcher = await exits.enter_async_context(
                Watch.open(settings, settings.watch, stack=stack, poster=poster,
                           schedule=False, serve_metrics=serve_metrics))
        check = chief or (ChiefClearance(watcher) if watcher is not None else None)
        engine = await exits.enter_async_context(
            TeamEngine.open(stack, settings.team, chief=check))
        if watcher is not None:
            watcher.on_critical = halt_production(engine.board)
        toolbox = await _open_agent_tools(exits, settings, stack, engine, redactor)
        ctx = BotContext(config, engine, stack, redactor, admin_ids=settings.team.admins,
                         local_share_target=settings.watch.report.local_share_target,
                         watch=watcher, start_watch_when_ready=watch_schedule, toolbox=toolbox)
        bot = await exits.enter_async_context(
            open_client(ctx, poster, load_cogs=load_cogs, extra_cogs=extra_cogs))
        exits.enter_context(frozen_start_up())
        yield bot


async def _open_agent_tools(exits: AsyncExitStack, settings: Settings, stack: InferenceStack,
                            engine: TeamEngine, redactor: Redactor) -> Toolbox | None:
    """The agents' MCP tools for the bot's lifetime, when any persona has a grant (else
    ``None``: nothing started, replies take no tool path). The servers start in the
    background, so a slow one never delays the bot's readiness; closed on exit."""
    if not any(persona.tools for persona in engine.roster):
        return None
    from homecrew.builtin_tools import open_tools  # loads the MCP SDK

    toolbox = await exits.enter_async_context(
        open_tools(settings, stack, engine, redactor=redactor))
    engine.use_tools(toolbox)
    exits.callback(engine.use_tools, None)
    return toolbox


async def serve(settings: Settings, env: Mapping[str, str]) -> int:
    """``homecrew bot``: run the bot until SIGINT/SIGTERM (exit codes: :mod:`bot.runner`)."""
    from bot.runner import run_until_signal

    config = discord_settings(settings, env)
    if config.token is None:
        raise ConfigError("no Discord token: set DISCORD_TOKEN in .env "
                          "(README: Create the Discord application)", key="discord.token")
    return await run_until_signal(config, lambda: open_bot(settings, env=env))
