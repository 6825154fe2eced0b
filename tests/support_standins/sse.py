"""A small server-sent-events reader for checking the stand-ins' wire format with httpx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["SseEvent", "read_sse"]


@dataclass(frozen=True)
class SseEvent:
    """One event: its ``event:`` name (``None`` when absent), raw data, and comment lines
    seen before it."""

    event: str | None
    data: str
    comments: tuple[str, ...] = ()

    def json(self) -> Any:
        return json.loads(self.data)


async def read_sse(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """Events of a streamed response, in order (a trailing unterminated event is dropped)."""
    event: str | None = None
    data: list[str] = []
    comments: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield SseEvent(event, "\n".join(data), tuple(comments))
                comments = []
            event, data = None, []
        elif line.startswith(":"):
            comments.append(line[1:].strip())
        elif line.startswith("event:"):
            event = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())
