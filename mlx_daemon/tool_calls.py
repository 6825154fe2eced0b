"""Tool calls in generated text: split a reply into content and OpenAI ``tool_calls``.

The call format is the model's: mlx-lm's tokenizer knows it (``tool_call_start``,
``tool_call_end`` and ``tool_parser``, inferred from the chat template: Qwen2.5/Hermes
``<tool_call>{json}</tool_call>``, Qwen3-Coder XML, Mistral ``[TOOL_CALLS]``, pythonic,
GLM, Kimi, Gemma...). This module only finds the markers in the text stream and hands
each call's text to mlx-lm's parser, so every format mlx-lm knows works here.

:class:`ToolCallSplitter` is fed text as it is generated, in any pieces, and returns the
same content and calls whatever the split points: text that may be the start of a marker
is held back until the next piece decides it, and whitespace before a call (or after the
last one) is dropped. A call whose text mlx-lm cannot parse (bad JSON, no name, arguments
that are not an object, a reply cut off mid-call) is not lost and does not fail the
request: its raw markup is returned as ordinary content.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Piece", "ToolCall", "ToolCallSplitter", "ToolSyntax", "new_call_id"]

log = logging.getLogger(__name__)

Parser = Callable[[str, Any], Any]


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ToolSyntax:
    """A model's tool-call markup: ``start`` + call text + ``end`` (``end`` may be empty:
    the call then runs to the end of the reply) and mlx-lm's parser for the call text."""

    start: str
    end: str
    parse: Parser


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, as text

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


Piece = str | ToolCall


@dataclass
class ToolCallSplitter:
    """Streaming splitter of one reply (see the module docstring).

    ``inside``: the prompt already ends with the start marker (a forced ``tool_choice``),
    so the reply begins inside a call. ``parallel=False`` keeps only the first call.
    """

    syntax: ToolSyntax
    tools: Sequence[dict[str, Any]] | None = None
    inside: bool = False
    parallel: bool = True
    new_id: Callable[[], str] = new_call_id
    calls: int = 0
    _buffer: str = ""
    _blank: str = field(default="", repr=False)  # trailing whitespace held back

    def feed(self, text: str) -> list[Piece]:
        """The content and calls that ``text`` (the next piece of the reply) completes."""
        self._buffer += text
        out: list[Piece] = []
        while self._step(out):
            pass
        return out

    def finish(self) -> list[Piece]:
        """The rest, at the end of the reply: an unterminated call is parsed as it stands."""
        out: list[Piece] = []
        rest, self._buffer = self._buffer, ""
        if self.inside:
            self.inside = False
            self._call(rest, self.syntax.start + rest, out)
        else:
            self._content(rest, out)
        if not self.calls and self._blank:
            out.append(self._blank)
        self._blank = ""
        return out

    def _step(self, out: list[Piece]) -> bool:
        """Consume one marker-delimited part of the buffer; False when more text is needed."""
        start, end = self.syntax.start, self.syntax.end
        if self.inside:
            at = self._buffer.find(end) if end else -1
            if at < 0:
                return False
            body = self._buffer[:at]
            self._buffer = self._buffer[at + len(end) :]
            self.inside = False
            self._call(body, start + body + end, out)
            return True
        at = self._buffer.find(start)
        if at >= 0:
            self._content(self._buffer[:at], out)
            self._buffer = self._buffer[at + len(start) :]
            self._blank = ""  # whitespace before a call is not content
            self.inside = True
            return True
        keep = _partial_marker(self._buffer, start)
        self._content(self._buffer[: len(self._buffer) - keep], out)
        self._buffer = self._buffer[len(self._buffer) - keep :]
        return False

    def _content(self, text: str, out: list[Piece]) -> None:
        if not text:
            return
        text = self._blank + text
        body = text.rstrip()
        self._blank = text[len(body) :]
        if body:
            out.append(body)

    def _call(self, body: str, markup: str, out: list[Piece]) -> None:
        calls = self._parse(body)
        if calls is None:
            self._content(markup, out)
            return
        if not self.parallel:
            calls = calls[: max(0, 1 - self.calls)]
        self.calls += len(calls)
        out.extend(calls)

    def _parse(self, body: str) -> list[ToolCall] | None:
        try:
            parsed = self.syntax.parse(body, self.tools)
        except Exception as exc:  # mlx-lm's parsers raise what their libraries raise
            log.warning("a tool call the model wrote does not parse (%s); "
                        "it is returned as content", type(exc).__name__)  # fmt: skip
            return None
        items = parsed if isinstance(parsed, list) else [parsed]
        calls = [self._normalise(item) for item in items]
        if not calls or any(call is None for call in calls):
            log.warning("a tool call the model wrote has no name or non-object arguments; "
                        "it is returned as content")  # fmt: skip
            return None
        return [call for call in calls if call is not None]

    def _normalise(self, item: object) -> ToolCall | None:
        if not isinstance(item, dict):
            return None
        name, arguments, given_id = item.get("name"), item.get("arguments", {}), item.get("id")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                return None
        if arguments is None:
            arguments = {}
        if not isinstance(name, str) or not name or not isinstance(arguments, dict):
            return None
        call_id = given_id if isinstance(given_id, str) and given_id else self.new_id()
        return ToolCall(call_id, name, json.dumps(arguments, ensure_ascii=False))


def _partial_marker(text: str, marker: str) -> int:
    """The length of the longest end of ``text`` that is a proper prefix of ``marker``."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
