"""A response: status, headers, and its body read once, as lines or whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

from inference.http._connection import Connection
from inference.http._errors import HttpError
from inference.http._framing import UntilClose, framing_for

__all__ = ["MAX_BODY", "Response"]

MAX_BODY = 16 * 1024 * 1024  # one streamed line, or one whole body read at once


class Response:
    """Header names are lower-cased; a repeated header's values are joined with ", "."""

    def __init__(self, conn: Connection, status: int, headers: dict[str, str], *,
                 keep_alive: bool, max_body: int = MAX_BODY) -> None:
        self.status = status
        self.headers = headers
        self.connection = conn
        self._framing = framing_for(status, headers)
        self._keep_alive = keep_alive and not isinstance(self._framing, UntilClose)
        self._max_body = max_body
        self._complete = False

    @property
    def reusable(self) -> bool:
        """The body was read to its end and the connection may carry another request."""
        return self._complete and self._keep_alive and self.connection.reusable

    async def read(self) -> bytes:
        body = bytearray()
        async for piece in self._pieces():
            body += piece
            if len(body) > self._max_body:
                raise HttpError(f"a body longer than {self._max_body} bytes")
        return bytes(body)

    async def lines(self) -> AsyncIterator[bytes]:
        """The body split after each ``\\n`` (the last line may lack one)."""
        limit, pending = self._max_body, b""
        async for piece in self._pieces():
            data = pending + piece if pending else piece
            start = 0
            while (end := data.find(b"\n", start)) >= 0:
                if end - start >= limit:
                    raise HttpError(f"a line longer than {limit} bytes")
                yield data[start:end + 1]
                start = end + 1
            pending = data[start:]
            if len(pending) > limit:
                raise HttpError(f"a line longer than {limit} bytes")
        if pending:
            yield pending

    def finish_if_buffered(self) -> None:
        """Consume the rest of the body when it is already here (so the connection can be
        reused), without waiting; a body left unread makes its connection close."""
        if not self._complete and self._framing.drain(self.connection):
            self._complete = True

    async def _pieces(self) -> AsyncIterator[bytes]:
        async for piece in self._framing.pieces(self.connection):
            yield piece
        self._complete = True
