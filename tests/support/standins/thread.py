"""Run any stand-in (or fault server) on its own event loop in a background thread.

For synchronous code such as benchmark scripts::

    with ServerThread(lambda: OllamaStandin(script=Script(reply="hi"))) as node:
        call(node.base_url)
        node.run(lambda s: s.wait_for_requests(1))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

__all__ = ["AsyncServer", "ServerThread"]


class AsyncServer(Protocol):
    """What :class:`ServerThread` needs from a server."""

    @property
    def base_url(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=AsyncServer)
T = TypeVar("T")


class ServerThread(Generic[S]):
    """A context manager that builds ``factory()`` inside a private event loop thread."""

    def __init__(self, factory: Callable[[], S], *, start_timeout: float = 10.0) -> None:
        self._factory = factory
        self._start_timeout = start_timeout
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="standin-server", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._server: S | None = None
        self._error: BaseException | None = None

    @property
    def server(self) -> S:
        if self._server is None:
            raise RuntimeError("server thread is not running")
        return self._server

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def run(self, fn: Callable[[S], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run ``fn(server)`` on the server's loop; wait at most ``timeout`` s for its result."""
        if self._loop is None:
            raise RuntimeError("server thread is not running")
        future = asyncio.run_coroutine_threadsafe(fn(self.server), self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError("stand-in server thread did not start in time")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("stand-in server failed to start") from self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30.0)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            server = self._factory()
            await server.start()
            self._server = server
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()
