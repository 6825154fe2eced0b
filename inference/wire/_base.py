"""What every wire protocol shares: the reader protocol, in-stream errors, usage fallback."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from inference.step import Chunk, Embedded, Step, Usage
from inference.types import ChatRequest, EmbedRequest, ModelToolCall

__all__ = ["MAX_LINE", "ChatProtocol", "EmbedProtocol", "LineReader", "LineSplitter",
           "ToolCallAssembler", "WireError", "WireModel", "arguments_text", "call_id",
           "embedded", "error_text", "parse_event", "usage_of"]

_Model = TypeVar("_Model", bound="WireModel")

MAX_LINE = 16 * 1024 * 1024  # one streamed line (SSE event / NDJSON object), in bytes


class WireError(Exception):
    """The server reported an error inside an otherwise successful (HTTP 200) stream."""


class WireModel(BaseModel):
    """The shape of one streamed event: unknown fields are ignored, known ones checked.

    ``error`` is the in-stream error object (``{"error": …}`` under HTTP 200).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    error: Any = None


def parse_event(model: type[_Model], data: bytes) -> _Model:
    """One event (a JSON object) checked against ``model``, in one pass.

    Raises :class:`WireError` for what is not JSON, not an object, of the wrong shape
    (naming the first offending field, never its value: it may be long) or an error
    object (with the server's message).
    """
    try:
        event = model.model_validate_json(data)
    except ValidationError as exc:
        _json_object(data)  # not JSON, not an object, or an error object: say that
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "event"
        raise WireError(f"malformed event: {where}: {first['msg']}") from None
    if event.error is not None:
        raise WireError(error_text(data))
    return event


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise WireError(f"not JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(event, dict):
        raise WireError(f"expected a JSON object, got {data.strip()[:100]!r}")
    if "error" in event:
        raise WireError(error_text(data))
    return event


class LineSplitter:
    """Splits a streamed body into lines (after each ``\\n``), however it arrives.

    A line may be as long as ``limit`` bytes (one large completion can arrive as a single
    event); a longer one raises :class:`WireError` instead of growing without bound.
    """

    def __init__(self, limit: int = MAX_LINE) -> None:
        self._limit = limit
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The lines completed by ``data`` (without their ``\\n``)."""
        if b"\n" not in data:
            self._pending += data
            self._check(len(self._pending))
            return []
        if self._pending:
            self._pending += data
            data = bytes(self._pending)
        lines = data.split(b"\n")
        rest = lines.pop()
        self._pending = bytearray(rest)
        for line in lines:
            self._check(len(line))
        self._check(len(rest))
        return lines

    def end(self) -> list[bytes]:
        """The last line, when the body did not end with ``\\n``."""
        rest, self._pending = bytes(self._pending), bytearray()
        return [rest] if rest else []

    def _check(self, size: int) -> None:
        if size > self._limit:
            raise WireError(f"a line longer than {self._limit} bytes")


def call_id() -> str:
    """An id for a tool call whose node gave none (Ollama): unique within a conversation."""
    return f"call_{secrets.token_hex(8)}"


def arguments_text(arguments: object) -> str:
    """A call's arguments as JSON text: kept as written when the node sent text (it may be
    malformed: the tool loop reports that), serialised when it sent an object (Ollama)."""
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False)


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Streamed tool-call fragments, joined by their ``index`` into complete calls.

    The first fragment of a call carries its id and name, later ones pieces of the
    arguments text (OpenAI's ``delta.tool_calls``, LiteLLM's chunks)."""

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}

    def add(self, index: int | None, id: str | None, name: str | None,
            arguments: str | None) -> None:
        key = index if index is not None else len(self._calls)
        if index is None and id and any(p.id == id for p in self._calls.values()):
            key = next(k for k, p in self._calls.items() if p.id == id)
        partial = self._calls.setdefault(key, _Partial())
        partial.id = partial.id or (id or "")
        if name and not partial.name:  # some servers repeat it in every fragment
            partial.name = name
        if arguments:
            partial.arguments.append(arguments)

    def calls(self) -> tuple[ModelToolCall, ...]:
        """The complete calls, in index order; a call without a name is dropped."""
        return tuple(ModelToolCall(p.id or call_id(), p.name, "".join(p.arguments) or "{}")
                     for _, p in sorted(self._calls.items()) if p.name)


class LineReader(Protocol):
    """Reads one streamed reply, line by line."""

    def feed(self, line: bytes) -> Chunk | None:
        """The text in ``line``, if any; raises :class:`WireError` for an error line."""
        ...

    def document(self, data: bytes) -> Chunk | None:
        """The text of a whole non-streamed answer (one JSON document)."""
        ...

    def tool_calls(self) -> tuple[ModelToolCall, ...]:
        """The complete tool calls of the reply, once it has been read."""
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


class EmbedProtocol(Protocol):
    """An embeddings API: one JSON request, one JSON answer (no stream)."""

    name: str

    def path(self) -> str: ...

    def body(self, step: Step, request: EmbedRequest) -> dict[str, Any]: ...

    def read(self, data: bytes, request: EmbedRequest) -> Embedded:
        """The answer's vectors; raises :class:`WireError` for a malformed one."""
        ...


def embedded(request: EmbedRequest, vectors: list[list[float]],
             prompt_tokens: int | None) -> Embedded:
    """An answer's vectors checked against the request: one per input, all of one
    non-zero length. Without the node's token count, 4 characters a token."""
    if len(vectors) != len(request.inputs):
        raise WireError(f"{len(vectors)} vectors for {len(request.inputs)} inputs")
    sizes = {len(vector) for vector in vectors}
    if 0 in sizes or len(sizes) > 1:
        raise WireError(f"vectors of unequal or zero length ({', '.join(map(str, sorted(sizes)))})")
    rows = tuple(tuple(vector) for vector in vectors)
    if prompt_tokens is not None:
        return Embedded(rows, prompt_tokens)
    chars = sum(len(text) for text in request.inputs)
    return Embedded(rows, max(1, chars // 4), estimated=True)


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
    prompt_chars = sum(len(m.content) + sum(len(c.arguments) for c in m.tool_calls)
                       for m in request.messages)
    return Usage(prompt_tokens=max(1, prompt_chars // 4),
                 completion_tokens=max(0, produced_chars // 4), finish_reason=finish,
                 estimated=True)
