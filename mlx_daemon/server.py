"""Run the daemon behind an aiohttp listener: in-process (tests) or as the service.

:class:`DaemonServer` is an async context manager that starts the daemon and listens
(``port: 0`` picks a free port; see :attr:`DaemonServer.base_url`). :func:`serve` runs
until SIGTERM/SIGINT, or exits non-zero if the compute worker dies, so that launchd or
systemd restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from types import TracebackType
from typing import Self

from aiohttp import web

from mlx_daemon.config import MlxDaemonSettings
from mlx_daemon.http_api import build_app
from mlx_daemon.service import Daemon

__all__ = ["DaemonServer", "serve"]

log = logging.getLogger(__name__)
_SHUTDOWN_GRACE = 5.0


class DaemonServer:
    def __init__(self, settings: MlxDaemonSettings) -> None:
        self.settings = settings
        self.daemon = Daemon(settings)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def root_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not listening")
        host = self.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``…/v1``) to give clients."""
        return f"{self.root_url}/v1"

    async def start(self) -> None:
        await self.daemon.start()
        runner = web.AppRunner(
            build_app(self.daemon),
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_GRACE,
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError:
            await self.close()
            raise
        self.port = int(runner.addresses[0][1])

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        await self.daemon.stop()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def _serve(settings: MlxDaemonSettings) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with DaemonServer(settings) as server:
        print(f"mlx daemon listening on {server.root_url} (log: {settings.log_path})",
              flush=True)  # fmt: skip
        stopped = asyncio.create_task(stop.wait())
        crashed = asyncio.create_task(server.daemon.wait_crashed())
        done, pending = await asyncio.wait({stopped, crashed}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        code = 1 if crashed in done else 0
    if code:
        print("mlx daemon: the compute worker crashed; see the log", file=sys.stderr)
    return code


def serve(settings: MlxDaemonSettings) -> int:
    """Serve until a signal arrives; return the process exit code."""
    try:
        return asyncio.run(_serve(settings))
    except OSError as exc:
        print(f"mlx daemon: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
              file=sys.stderr)  # fmt: skip
        return 1
