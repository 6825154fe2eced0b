"""Start and stop the gateway's HTTP server.

:func:`serving` binds the application and yields where it listens; on exit it stops
accepting, lets requests in flight finish (up to ``shutdown_timeout``) and closes. A
gateway with no API keys is open to anyone who can reach it, so it refuses to bind an
address that is not loopback until a key exists (``has_keys``).

Handlers are cancelled when their client disconnects (``handler_cancellation``): a
streamed reply nobody reads closes its request to the node.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from inference.errors import ConfigError

__all__ = ["Listening", "is_loopback", "serving"]


@dataclass(frozen=True, slots=True)
class Listening:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@asynccontextmanager
async def serving(app: web.Application, host: str, port: int, *, has_keys: bool,
                  shutdown_timeout: float = 10.0) -> AsyncIterator[Listening]:
    """Serve ``app`` on ``host:port`` (port 0: any free one) while the context is open."""
    if not has_keys and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host}: no API keys exist, so anyone who reaches it could "
            "use it; create one (homecrew keys create --name NAME) or bind 127.0.0.1",
            key="gateway.host")
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           handler_cancellation=True, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound = runner.addresses[0]
        yield Listening(host, int(bound[1]))
    finally:
        await runner.cleanup()
