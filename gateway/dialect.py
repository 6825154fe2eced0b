"""What the gateway's HTTP edge needs of each API it speaks (OpenAI's, Anthropic's).

A :class:`Dialect` turns a request body into a :class:`ParsedCall` (raising
:class:`~gateway.errors.BadRequest` naming the field), and renders the chain's answer
back: whole (:meth:`Dialect.reply`), streamed as server-sent events
(:meth:`Dialect.stream`) or as an error (:meth:`Dialect.error`). Dialects know nothing of
keys, models or the chain: the handlers resolve ``ParsedCall.model`` and run the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import GatewayError
from inference.types import Message, ReplyDone, StreamEvent, ToolChoice, ToolFunction

__all__ = ["Dialect", "ParsedCall"]


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """One chat call as the client asked for it, in the chain's terms.

    ``model`` is the name the client sent (echoed back in replies); ``system`` is a
    top-level system prompt (Anthropic's ``system``; OpenAI's system messages stay in
    ``messages``). ``include_usage``: OpenAI's ``stream_options.include_usage``.
    """

    model: str
    messages: Sequence[Message]
    stream: bool = False
    system: str | None = None
    include_usage: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: Sequence[str] = ()
    seed: int | None = None
    response_format: Mapping[str, Any] | None = None
    tools: Sequence[ToolFunction] = ()
    tool_choice: ToolChoice | None = None


class Dialect(Protocol):
    """One API's request and response shapes."""

    def parse(self, body: object) -> ParsedCall:
        """The call in ``body`` (decoded JSON); :class:`BadRequest` names a bad field."""
        ...

    def reply(self, call: ParsedCall, done: ReplyDone) -> dict[str, Any]:
        """The whole answer as the API's JSON body."""
        ...

    def stream(self, call: ParsedCall, events: AsyncIterator[StreamEvent]
               ) -> AsyncIterator[bytes]:
        """The answer as SSE frames. ``events`` may raise :class:`GatewayError` part-way,
        or end with a ``ReplyDone`` whose ``interrupted`` is set: either ends the stream
        with the API's error event, never a silent cut."""
        ...

    def error(self, error: GatewayError) -> dict[str, Any]:
        """The API's error body for ``error`` (the status is ``error.status``)."""
        ...
