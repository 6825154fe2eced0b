"""Ollama's native chat protocol (``/api/chat``), streamed as NDJSON.

Each line is ``{"message": {"role": "assistant", "content": …}, "done": false}``; the last
has ``done: true``, ``done_reason`` and the counts (``prompt_eval_count``,
``eval_count``). An error mid-stream is an ``{"error": …}`` line under HTTP 200.
Sampling parameters go under ``options`` (``max_tokens`` is ``num_predict``); a JSON
response format is ``format: "json"`` or the schema itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inference.step import Chunk, Step, Usage
from inference.types import ChatRequest
from inference.wire._base import WireModel, parse_event, usage_of

__all__ = ["OllamaChat"]


class OllamaChat:
    name = "ollama"

    def path(self) -> str:
        return "/api/chat"

    def body(self, step: Step, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": step.upstream_model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
        }
        options = {
            "temperature": request.temperature,
            "num_predict": request.max_tokens,
            "top_p": request.top_p,
            "seed": request.seed,
            "stop": list(request.stop) or None,
        }
        options = {k: v for k, v in options.items() if v is not None}
        if options:
            body["options"] = options
        form = _format(request.response_format)
        if form is not None:
            body["format"] = form
        if request.tools:
            body["tools"] = [dict(t) for t in request.tools]
        return body

    def reader(self, request: ChatRequest) -> _NdjsonReader:
        return _NdjsonReader(request)


def _format(response_format: Mapping[str, Any] | None) -> str | dict[str, Any] | None:
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return dict(schema) if isinstance(schema, Mapping) else "json"
    return "json" if kind == "json_object" else None


class _Message(WireModel):
    content: str | None = None


class _Event(WireModel):
    """One NDJSON line; any other shape is a :class:`~inference.wire.WireError`."""

    message: _Message | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None


class _NdjsonReader:
    def __init__(self, request: ChatRequest) -> None:
        self._request = request
        self._last = _Event()
        self._chars = 0
        self.finished = False

    def feed(self, line: bytes) -> Chunk | None:
        if not line.strip():
            return None
        event = parse_event(_Event, line)
        if event.done:
            self.finished = True
            self._last = event
        text = event.message.content if event.message is not None else None
        if not text:
            return None
        self._chars += len(text)
        return Chunk(text)

    def usage(self) -> Usage:
        last = self._last
        return usage_of(self._request, prompt=last.prompt_eval_count,
                        completion=last.eval_count, produced_chars=self._chars,
                        finish=last.done_reason)
