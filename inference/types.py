"""Typed data that crosses the inference package's boundary."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "INTERRUPTED_MARKER",
    "ChatRequest",
    "Message",
    "ReplyDone",
    "Role",
    "StreamEvent",
    "TextDelta",
]

Role = Literal["system", "user", "assistant"]
INTERRUPTED_MARKER = "\n\n[reply interrupted: {reason}]"


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat call on a route. ``agent`` is carried into the ledger.

    ``stream=True`` commits text to the caller from the first token on; ``stream=False``
    commits nothing until a step has finished, so any failure (even mid-reply, or the
    ``total`` timeout) falls through to the next step.
    """

    route: str
    messages: Sequence[Message]
    agent: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: Sequence[str] = ()
    seed: int | None = None
    response_format: Mapping[str, Any] | None = None
    tools: Sequence[Mapping[str, Any]] = ()
    use_cache: bool = True
    stream: bool = True

    def cache_material(self) -> str:
        """Everything that changes the answer, canonically serialised."""
        return json.dumps(
            {
                "route": self.route,
                "messages": [[m.role, m.content] for m in self.messages],
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "top_p": self.top_p,
                "stop": list(self.stop),
                "seed": self.seed,
                "response_format": self.response_format,
                "tools": list(self.tools),
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The final record of a reply: who served it, what it cost, how long it took."""

    route: str
    node: str
    model: str
    upstream_model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    ttft_s: float | None
    fallback_depth: int
    cached: bool = False
    fell_back_from: tuple[str, ...] = ()
    interrupted: str | None = None
    finish_reason: str | None = None
    notices: tuple[str, ...] = ()  # things the user should be told (e.g. a budget reached)
    text: str = field(default="", repr=False)
    hedged: bool = False  # a hedge ran: another step was started beside a slow one


StreamEvent = TextDelta | ReplyDone
