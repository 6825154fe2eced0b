"""Ollama's native chat protocol (``/api/chat``), streamed as NDJSON.

Each line is ``{"message": {"role": "assistant", "content": …}, "done": false}``; the last
has ``done: true``, ``done_reason`` and the counts (``prompt_eval_count``,
``eval_count``). An error mid-stream is an ``{"error": …}`` line under HTTP 200.
Sampling parameters go under ``options`` (``max_tokens`` is ``num_predict``); a JSON
response format is ``format: "json"`` or the schema itself. Tools go in ``tools``
(OpenAI's function schema); the model's calls come whole in ``message.tool_calls``, with
the arguments as an object and no id (one is made up here); a tool result goes back as a
``tool`` message with ``tool_name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inference.step import Chunk, Step, Usage
from inference.types import ChatRequest, Message, ModelToolCall
from inference.wire._base import WireModel, arguments_text, call_id, parse_event, usage_of

__all__ = ["OllamaChat"]


class OllamaChat:
    name = "ollama"

    def path(self) -> str:
        return "/api/chat"

    def body(self, step: Step, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": step.upstream_model,
            "messages": [_message(m) for m in request.messages],
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
        if request.tools and request.tool_choice != "none":
            body["tools"] = [t.openai() for t in request.tools]
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


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "content": message.content,
                "tool_name": message.name or ""}
    body: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        body["tool_calls"] = [{"function": {"name": c.name, "arguments": _object(c)}}
                              for c in message.tool_calls]
    return body


def _object(call: ModelToolCall) -> dict[str, Any]:
    """Ollama wants the arguments as an object: malformed ones (already reported back to
    the model as a tool error) go as an empty one."""
    decoded = call.decoded()
    return decoded if isinstance(decoded, dict) else {}


class _Function(WireModel):
    name: str = ""
    arguments: Any = None


class _Call(WireModel):
    id: str | None = None
    function: _Function


class _Message(WireModel):
    content: str | None = None
    tool_calls: list[_Call] | None = None


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
        self._calls: list[ModelToolCall] = []
        self.finished = False

    def document(self, data: bytes) -> Chunk | None:
        return self.feed(data)

    def tool_calls(self) -> tuple[ModelToolCall, ...]:
        return tuple(self._calls)

    def feed(self, line: bytes) -> Chunk | None:
        if not line.strip():
            return None
        event = parse_event(_Event, line)
        if event.done:
            self.finished = True
            self._last = event
        for call in (event.message.tool_calls if event.message is not None else None) or ():
            if call.function.name:
                self._calls.append(ModelToolCall(call.id or call_id(), call.function.name,
                                                 arguments_text(call.function.arguments)))
        text = event.message.content if event.message is not None else None
        if not text:
            return None
        self._chars += len(text)
        return Chunk(text)

    def usage(self) -> Usage:
        last = self._last
        # Ollama says "stop" after tool calls too; the chain wants OpenAI's word
        finish = "tool_calls" if self._calls else last.done_reason
        return usage_of(self._request, prompt=last.prompt_eval_count,
                        completion=last.eval_count, produced_chars=self._chars,
                        finish=finish)
