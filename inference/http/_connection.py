"""One socket to a server: received bytes in a buffer, a waiter woken when more arrive."""

from __future__ import annotations

import asyncio

from inference.http._errors import HttpError

__all__ = ["HIGH_WATER", "Connection"]

HIGH_WATER = 256 * 1024  # stop reading the socket while this much is unread


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.used = False  # has carried a request before
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._error = exc
        self._wake()

    # -- reading ---------------------------------------------------------------------------
    @property
    def reusable(self) -> bool:
        return not self.closed and not self.buffer and self.transport is not None and (
            not self.transport.is_closing())

    async def fill(self) -> bool:
        """Wait for more bytes; False when the peer has closed and nothing more will come."""
        if self.closed:
            return False
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        return bool(self.buffer) or not self.closed

    async def read_until(self, marker: bytes, limit: int) -> bytes:
        """Bytes up to and including ``marker``, taken from the buffer."""
        start = 0
        while True:
            found = self.buffer.find(marker, start)
            if found >= 0:
                return self.take(found + len(marker))
            if len(self.buffer) > limit:
                raise HttpError(f"a line longer than {limit} bytes")
            start = max(0, len(self.buffer) - len(marker) + 1)
            if not await self.fill():
                raise self.closed_error()

    async def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not await self.fill():
                raise self.closed_error()
        return self.take(size)

    async def read_some(self, most: int) -> bytes:
        """Between 1 and ``most`` bytes."""
        if not self.buffer and not await self.fill():
            raise self.closed_error()
        return self.take(most)

    def take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def closed_error(self) -> HttpError:
        reason = f": {self._error}" if self._error else ""
        return HttpError(f"the server closed the connection mid-answer{reason}")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
