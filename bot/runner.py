"""Assemble and run the bot: chain → Chief's watch → team engine → Discord client.

::

    async with open_bot(settings, env=os.environ) as bot:
        await bot.start(token)

Everything opened here is closed in reverse order on exit; the bot's replies get
``discord.shutdown_grace`` seconds to post their last edit before the engine stops.
``serve`` is what ``homecrew bot`` runs: it adds signal handling and the token check.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import discord
from discord.ext import commands

from bot.chief_poster import ChiefPoster
from bot.client import HomecrewBot
from bot.config import DiscordSettings
from bot.context import BotContext
from bot.delivery import describe_failure
from bot.endpoints import discord_endpoints
from bot.gateway import GatewayCrashLoop
from bot.redaction import Redactor, install_redaction, secrets_of
from homecrew.settings import Settings
from inference.errors import ConfigError
from inference.runtime import InferenceStack
from team.chief import ChiefCheck
from team.engine import TeamEngine
from watch.engine import Watch
from watch.gate import ChiefClearance, halt_production

__all__ = ["CogFactory", "discord_settings", "open_bot", "serve"]

log = logging.getLogger(__name__)
CogFactory = Callable[[HomecrewBot], commands.Cog]


def discord_settings(settings: Settings, env: Mapping[str, str]) -> DiscordSettings:
    """The ``discord`` section with the token and guild filled in from the environment."""
    return settings.discord.with_environment(env)


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
    off, and
    ``serve_metrics`` overrides ``watch.metrics.enabled``; ``extra_cogs`` are loaded with
    the others, their slash commands synced in the same single sync.
    """
    config = discord_settings(settings, env)
    if not config.guild_ids:
        raise ConfigError("no guild configured: set DISCORD_GUILD_ID in .env (or "
                          "discord.guild_ids in the config)", key="discord.guild_ids")
    redactor = Redactor(secrets_of(settings, env))
    poster = ChiefPoster(critical_role=settings.watch.incidents.critical_role)
    async with AsyncExitStack() as stack_:
        stack_.callback(install_redaction(redactor))
        stack = await stack_.enter_async_context(InferenceStack.open(settings, probes=probes))
        watcher: Watch | None = None
        if watch:
            watcher = await stack_.enter_async_context(
                Watch.open(settings, settings.watch, stack=stack, poster=poster,
                           schedule=False, serve_metrics=serve_metrics))
        check = chief or (ChiefClearance(watcher) if watcher is not None else None)
        engine = await stack_.enter_async_context(
            TeamEngine.open(stack, settings.team, chief=check))
        if watcher is not None:
            watcher.on_critical = halt_production(engine.board)
        ctx = BotContext(config, engine, stack, redactor, admin_ids=settings.team.admins,
                         local_share_target=settings.watch.report.local_share_target,
                         watch=watcher, start_watch_when_ready=watch_schedule)
        bot = HomecrewBot(ctx, extra_cogs=extra_cogs)
        poster.attach(bot)
        stack_.callback(_freeze_startup_heap())
        try:
            yield bot
        finally:
            if not bot.is_closed():
                await bot.close()


def _freeze_startup_heap() -> Callable[[], None]:
    """Move everything allocated so far (LiteLLM, discord.py, pydantic: ~0.5 M objects)
    out of the cyclic collector's reach; returns the undo.

    Otherwise each full collection rescans that start-up heap, stalling the loop for
    ~0.2 s (under a burst of messages, about once every few seconds).
    """
    gc.collect()
    gc.freeze()
    return gc.unfreeze


async def serve(settings: Settings, env: Mapping[str, str]) -> int:
    """Run the bot until SIGINT/SIGTERM; 0 on a clean stop, 2 on a bad token or set-up,
    1 when Discord cannot be reached to log in or the gateway kept failing
    (``discord.max_gateway_crashes``): systemd restarts it then."""
    config = discord_settings(settings, env)
    if config.token is None:
        raise ConfigError("no Discord token: set DISCORD_TOKEN in .env "
                          "(README: Create the Discord application)", key="discord.token")
    with discord_endpoints(config.api_base, config.gateway_url):
        async with open_bot(settings, env=env) as bot:
            return await _run_until_signal(bot, config.token.get_secret_value())


async def _run_until_signal(bot: HomecrewBot, token: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    runner = asyncio.create_task(bot.start(token), name="discord-client")
    stopper = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        stopper.cancel()
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper
    try:
        await runner
    except discord.LoginFailure:
        log.error("Discord refused the token (check DISCORD_TOKEN; `homecrew doctor` helps)")
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("enable the Message Content intent for the bot in the Developer Portal")
        return 2
    except GatewayCrashLoop as exc:
        log.error("stopping: %s", exc)
        return 1
    except (aiohttp.ClientError, OSError, TimeoutError, discord.HTTPException) as exc:
        log.error("cannot reach Discord to log in (%s); stopping, to be restarted",
                  describe_failure(exc))
        return 1
    return 0
