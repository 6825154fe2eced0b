"""Scripted behaviour of a stand-in server: what it answers, how fast, and how it fails.

A :class:`Script` describes one request's reply (or, with several reply texts, a sequence of
replies consumed in order). Failure modes are small frozen dataclasses so a test can match on
them; the ``Script.http_error`` / ``Script.hang`` / ... constructors are the usual way in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CutAfterFirstChunk",
    "ErrorMidStream",
    "Failure",
    "Hang",
    "HttpError",
    "Script",
    "ScriptedCall",
    "Usage",
    "count_words",
]

DEFAULT_REPLY = "Hello from the stand-in."


@dataclass(frozen=True)
class HttpError:
    """Answer with ``status`` and ``body`` (``None``: the protocol's own error shape)."""

    status: int
    body: Any = None
    message: str | None = None


@dataclass(frozen=True)
class Hang:
    """Accept the request, never send a byte back; the connection drops when the server stops."""


@dataclass(frozen=True)
class CutAfterFirstChunk:
    """Send one content chunk (half the body when not streaming), then drop the connection."""


@dataclass(frozen=True)
class ErrorMidStream:
    """Send one content chunk, then the protocol's in-stream error (HTTP 500 when not streaming)."""

    message: str | None = None


Failure = HttpError | Hang | CutAfterFirstChunk | ErrorMidStream


@dataclass(frozen=True)
class ScriptedCall:
    """A tool call the stand-in answers with. ``arguments`` is an object, or the text
    sent as it is (so a test can send malformed JSON); ``id`` ``None``: one is made up
    (Ollama sends none)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Usage:
    """Token counts reported for one reply."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Script:
    """What a stand-in does with a completion request.

    ``reply`` is one text or several consumed in order (the last one repeats). ``chunk_chars``
    splits a streamed reply into deltas of that many characters (0: one delta).
    ``first_token_delay`` is waited before the first delta, ``chunk_delay`` between deltas;
    ``first_token_gate`` (an event the test sets) holds the first delta until it is set.
    ``headers_first`` overrides whether the status line goes out before that wait (``None``: what
    the real server does — OpenAI-compatible and Anthropic send headers at once, Ollama with its
    first line). ``prompt_tokens`` / ``completion_tokens`` override the reported usage (defaults:
    a word count of the prompt, and the number of deltas).
    """

    reply: str | Sequence[str] = DEFAULT_REPLY
    chunk_chars: int = 4
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    failure: Failure | None = None
    headers_first: bool | None = None
    first_token_gate: asyncio.Event | None = field(default=None, compare=False)
    # when set, the reply to each request: made from its last message's text (overrides reply)
    answer: Callable[[str], str] | None = None
    # tool calls sent after the text (finish reason "tool_calls")
    tool_calls: Sequence[ScriptedCall] = ()
    _served: int = field(default=0, init=False, repr=False, compare=False)

    @classmethod
    def http_error(cls, status: int, body: Any = None, *, message: str | None = None) -> Script:
        return cls(failure=HttpError(status=status, body=body, message=message))

    @classmethod
    def calling(cls, *calls: ScriptedCall, reply: str = "") -> Script:
        """Answer with these tool calls (after ``reply``, when given)."""
        return cls(reply=reply, tool_calls=calls)

    @classmethod
    def hang(cls) -> Script:
        return cls(failure=Hang())

    @classmethod
    def cut_after_first_chunk(cls, reply: str = DEFAULT_REPLY, chunk_chars: int = 4) -> Script:
        return cls(reply=reply, chunk_chars=chunk_chars, failure=CutAfterFirstChunk())

    @classmethod
    def error_mid_stream(
        cls, message: str | None = None, reply: str = DEFAULT_REPLY, chunk_chars: int = 4
    ) -> Script:
        return cls(reply=reply, chunk_chars=chunk_chars, failure=ErrorMidStream(message))

    def next_reply(self) -> str:
        """The reply text for the next request this script serves."""
        if isinstance(self.reply, str):
            return self.reply
        if not self.reply:
            return ""
        text = self.reply[min(self._served, len(self.reply) - 1)]
        self._served += 1
        return text

    def deltas(self, text: str) -> list[str]:
        if not text:
            return []
        size = self.chunk_chars if self.chunk_chars > 0 else len(text)
        return [text[i : i + size] for i in range(0, len(text), size)]

    def usage(self, prompt_words: int, deltas: Sequence[str]) -> Usage:
        prompt = self.prompt_tokens if self.prompt_tokens is not None else max(prompt_words, 1)
        completion = self.completion_tokens if self.completion_tokens is not None else len(deltas)
        return Usage(prompt_tokens=prompt, completion_tokens=completion)


def count_words(value: Any) -> int:
    """Words of the text in a prompt value (a string, content parts, messages, or lists of
    them): a stable stand-in for a token count."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return count_words(value.get("text")) + count_words(value.get("content"))
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    return 0
