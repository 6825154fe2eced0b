"""Run a discord.py client against a stand-in until `on_ready` (usable outside pytest too)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import discord

from .events import GatewayIdentified
from .server import StandinDiscord

__all__ = ["DiscordPyProbe", "running_bot"]

ClientT = TypeVar("ClientT", bound=discord.Client)


class DiscordPyProbe:
    """Answers "is the bot listening for this component/modal yet?" from discord.py's view store."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def component_ready(self, message_id: int, component_type: int, custom_id: str) -> bool:
        store = self._client._connection._view_store
        key = (component_type, custom_id)
        if key in store._views.get(message_id, {}) or key in store._views.get(None, {}):
            return True
        return any(pattern.fullmatch(custom_id) for pattern in store._dynamic_items)

    def modal_ready(self, custom_id: str) -> bool:
        return custom_id in self._client._connection._view_store._modals


async def _until_ready(client: discord.Client, standin: StandinDiscord, timeout: float) -> None:  # noqa: ASYNC109 (test API takes timeout=)
    await standin.wait_for_event(GatewayIdentified, timeout=timeout)
    await client.wait_until_ready()


@asynccontextmanager
async def running_bot(
    standin: StandinDiscord,
    client: ClientT,
    *,
    token: str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 (test API takes timeout=)
    guild_ready_timeout: float | None = 0.05,
) -> AsyncIterator[ClientT]:
    """Run `client.start(token)` against the stand-in; yield once `on_ready` fired; close after.

    `guild_ready_timeout` shortens discord.py's 2 s wait after the last GUILD_CREATE (None keeps
    the client's own setting).  Login errors (e.g. `discord.LoginFailure`) propagate.
    """
    if guild_ready_timeout is not None:
        client._connection.guild_ready_timeout = guild_ready_timeout
    standin.listener_probe = DiscordPyProbe(client)
    runner = asyncio.create_task(client.start(token or standin.token), name="standin-bot")
    ready = asyncio.create_task(_until_ready(client, standin, timeout), name="standin-ready")
    try:
        done, _ = await asyncio.wait(
            {runner, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if runner in done:
            runner.result()
            raise RuntimeError("the bot stopped before it was ready")
        if ready not in done:
            raise TimeoutError(f"the bot was not ready within {timeout}s")
        ready.result()
        yield client
    finally:
        ready.cancel()
        await client.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(runner, timeout=5.0)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await ready
        standin.listener_probe = None
