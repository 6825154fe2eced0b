"""What every wire protocol shares: the reader protocol, in-stream errors, usage fallback."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from inference.step import Chunk, Step, Usage
from inference.types import ChatRequest

__all__ = ["ChatProtocol", "LineReader", "WireError", "error_text", "usage_of"]


class WireError(Exception):
    """The server reported an error inside an otherwise successful (HTTP 200) stream."""


class LineReader(Protocol):
    """Reads one streamed reply, line by line."""

    def feed(self, line: bytes) -> Chunk | None:
        """The text in ``line``, if any; raises :class:`WireError` for an error line."""
        ...

    @property
    def finished(self) -> bool:
        """The protocol's end-of-stream marker has been read."""
        ...

    def usage(self) -> Usage:
        """Token counts (the server's, or estimated) and the finish reason."""
        ...


class ChatProtocol(Protocol):
    name: str

    def path(self) -> str: ...

    def body(self, step: Step, request: ChatRequest) -> dict[str, Any]: ...

    def reader(self, request: ChatRequest) -> LineReader: ...


def error_text(raw: bytes | str) -> str:
    """The human part of an error body: ``{"error": {"message": …}}``, ``{"error": "…"}``,
    ``{"message": …}`` or the text itself (first line, at most 300 characters)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        found = body.get("error", body.get("message", body.get("detail")))
        if isinstance(found, Mapping):
            found = found.get("message", found.get("type"))
        if found is not None:
            text = str(found)
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ""


def usage_of(request: ChatRequest, *, prompt: object, completion: object,
             produced_chars: int, finish: str | None) -> Usage:
    """The server's counts when it gave both, else an estimate (4 characters a token)."""
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(prompt_tokens=prompt, completion_tokens=completion, finish_reason=finish)
    prompt_chars = sum(len(m.content) for m in request.messages)
    return Usage(prompt_tokens=max(1, prompt_chars // 4),
                 completion_tokens=max(0, produced_chars // 4), finish_reason=finish,
                 estimated=True)
