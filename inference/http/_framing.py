"""How a response body ends: after ``Content-Length`` bytes, after the last chunk, or when
the connection closes. Each framing streams the body, and can consume the rest of it
without waiting when it is already buffered (so the connection can carry another
request)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from inference.http._connection import Connection
from inference.http._errors import HttpError

__all__ = ["MAX_HEAD", "Chunked", "Framing", "Sized", "UntilClose", "framing_for"]

MAX_HEAD = 64 * 1024  # status line + headers; also a chunk-size or trailer line
_CRLF = b"\r\n"
_HEX = re.compile(rb"[0-9A-Fa-f]+")


class Framing(Protocol):
    def pieces(self, conn: Connection) -> AsyncIterator[bytes]: ...

    def drain(self, conn: Connection) -> bool:
        """Consume the rest of the body if all of it is buffered; True when done."""


def framing_for(status: int, headers: Mapping[str, str]) -> Framing:
    """RFC 9112 §6.3: no body for 204/304; chunked wins over a length; else close."""
    if status in (204, 304):
        return Sized(0)
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.rsplit(",", 1)[-1].strip().lower() != "chunked":
            raise HttpError(f"unsupported Transfer-Encoding {coding!r}")
        return Chunked()
    length = headers.get("content-length")
    if length is not None:
        if not (length.isascii() and length.isdigit()):
            raise HttpError(f"bad Content-Length {length!r}")
        return Sized(int(length))
    return UntilClose()


class Sized:
    def __init__(self, length: int) -> None:
        self.left = length

    async def pieces(self, conn: Connection) -> AsyncIterator[bytes]:
        while self.left:
            piece = await conn.read_some(self.left)
            self.left -= len(piece)
            yield piece

    def drain(self, conn: Connection) -> bool:
        if len(conn.buffer) < self.left:
            return False
        del conn.buffer[:self.left]
        self.left = 0
        return True


class Chunked:
    def __init__(self) -> None:
        self.left = 0  # data bytes still to come in the current chunk
        self.crlf = False  # the CRLF closing the current chunk is still to come

    async def pieces(self, conn: Connection) -> AsyncIterator[bytes]:
        while True:
            while self.left:
                piece = await conn.read_some(self.left)
                self.left -= len(piece)
                yield piece
            if self.crlf:
                if await conn.read_exact(2) != _CRLF:
                    raise HttpError("a chunk not followed by CRLF")
                self.crlf = False
            size = _chunk_size(await conn.read_until(_CRLF, MAX_HEAD))
            if size == 0:
                while await conn.read_until(_CRLF, MAX_HEAD) != _CRLF:  # trailers
                    pass
                return
            self.left, self.crlf = size, True

    def drain(self, conn: Connection) -> bool:
        buffer, at, left, crlf = conn.buffer, 0, self.left, self.crlf
        while True:
            at += left
            if crlf:
                if buffer[at:at + 2] != _CRLF:
                    return False
                at += 2
            end = buffer.find(_CRLF, at)
            if end < 0:
                return False
            try:
                size = _chunk_size(bytes(buffer[at:end + 2]))
            except HttpError:
                return False
            at, left, crlf = end + 2, size, True
            if size == 0:
                break
        while (end := buffer.find(_CRLF, at)) >= 0:  # trailers, then an empty line
            done, at = end == at, end + 2
            if done:
                del buffer[:at]
                self.left, self.crlf = 0, False
                return True
        return False


class UntilClose:
    async def pieces(self, conn: Connection) -> AsyncIterator[bytes]:
        while conn.buffer or await conn.fill():
            if conn.buffer:
                yield conn.take(len(conn.buffer))

    def drain(self, conn: Connection) -> bool:
        return False  # the end is the connection closing: it cannot be reused anyway


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()
    if not _HEX.fullmatch(digits):
        raise HttpError(f"bad chunk size line {line[:40]!r}")
    return int(digits, 16)
