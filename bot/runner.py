"""Run the Discord client: open it over a ready context, and keep it up until a signal.

What is Discord's only; the process is put together by :mod:`homecrew.compose`.
:func:`run_until_signal` is what ``homecrew bot`` runs: signal handling and the exit codes
(0 a clean stop, 2 a bad token or intents, 1 Discord unreachable or the gateway kept
failing — ``discord.max_gateway_crashes``: systemd restarts it then).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
import discord

from bot.chief_poster import ChiefPoster
from bot.client import CogFactory, CogLoader, HomecrewBot
from bot.config import DiscordSettings
from bot.context import BotContext
from bot.delivery import describe_failure
from bot.endpoints import discord_endpoints
from bot.gateway import GatewayCrashLoop

__all__ = ["open_client", "run_until_signal"]

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_client(ctx: BotContext, poster: ChiefPoster, *, load_cogs: CogLoader,
                      extra_cogs: Sequence[CogFactory] = ()) -> AsyncIterator[HomecrewBot]:
    """The Discord client over ``ctx``, Chief's poster attached; closed on exit."""
    bot = HomecrewBot(ctx, load_cogs=load_cogs, extra_cogs=extra_cogs)
    poster.attach(bot)
    unfreeze = _freeze_startup_heap()
    try:
        yield bot
    finally:
        try:
            if not bot.is_closed():
                await bot.close()
        finally:
            unfreeze()


def _freeze_startup_heap() -> Callable[[], None]:
    """Move everything allocated so far (LiteLLM, discord.py, pydantic: ~0.5 M objects)
    out of the cyclic collector's reach; returns the undo.

    Otherwise each full collection rescans that start-up heap, stalling the loop for
    ~0.2 s (under a burst of messages, about once every few seconds).
    """
    gc.collect()
    gc.freeze()
    return gc.unfreeze


async def run_until_signal(
    config: DiscordSettings,
    open_bot: Callable[[], AbstractAsyncContextManager[HomecrewBot]],
) -> int:
    """Open the bot (``config.token`` set) and run it until SIGINT/SIGTERM."""
    assert config.token is not None
    with discord_endpoints(config.api_base, config.gateway_url):
        async with open_bot() as bot:
            return await _run(bot, config.token.get_secret_value())


async def _run(bot: HomecrewBot, token: str) -> int:
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
