"""OpenAI's chat-completions protocol, streamed as server-sent events.

Request: ``POST {base_url}/chat/completions`` with ``stream: true`` and
``stream_options.include_usage`` (the last chunk before ``data: [DONE]`` carries
``usage`` and no choices). Tool calls stream as ``delta.tool_calls`` fragments, joined
by ``index``; a server that answers with one JSON document instead (``message.tool_calls``)
is read too. Tolerated quirks of compatible servers: comment lines
(``: keepalive``), the role repeated in every chunk, a usage chunk typed
``chat.completion``, ``usage: null`` on ordinary chunks.
"""

from __future__ import annotations

from typing import Any

from inference.step import Chunk, Step, Usage
from inference.types import ChatRequest, Message, ModelToolCall
from inference.wire._base import (
    ToolCallAssembler,
    WireModel,
    arguments_text,
    parse_event,
    usage_of,
)

__all__ = ["OpenAIChat", "openai_messages", "sampling_params"]

_DONE = b"[DONE]"


class OpenAIChat:
    name = "openai"

    def path(self) -> str:
        return "/chat/completions"

    def body(self, step: Step, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": step.upstream_model,
            "messages": openai_messages(request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        body.update(sampling_params(request))
        return body

    def reader(self, request: ChatRequest) -> _SseReader:
        return _SseReader(request)


def sampling_params(request: ChatRequest) -> dict[str, Any]:
    """The request's optional OpenAI parameters that are set (LiteLLM takes the same)."""
    optional: dict[str, Any] = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "top_p": request.top_p,
        "seed": request.seed,
        "stop": list(request.stop) or None,
        "response_format": dict(request.response_format) if request.response_format else None,
        "tools": [t.openai() for t in request.tools] or None,
        "tool_choice": request.tool_choice if request.tools else None,
    }
    return {k: v for k, v in optional.items() if v is not None}


def openai_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The messages in OpenAI's shape (LiteLLM takes the same and converts per provider)."""
    return [_message(m) for m in request.messages]


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "",
                "content": message.content}
    if message.tool_calls:
        return {"role": "assistant", "content": message.content or None,
                "tool_calls": [{"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}}
                               for c in message.tool_calls]}
    return {"role": message.role, "content": message.content}


class _Function(WireModel):
    name: str | None = None
    arguments: Any = None


class _CallDelta(WireModel):
    index: int | None = None
    id: str | None = None
    function: _Function | None = None


class _Delta(WireModel):
    content: str | None = None
    tool_calls: list[_CallDelta] | None = None


class _Choice(WireModel):
    delta: _Delta | None = None
    message: _Delta | None = None  # a non-streamed answer
    finish_reason: str | None = None


class _Counts(WireModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Event(WireModel):
    """One ``data:`` event; any other shape is a :class:`~inference.wire.WireError`."""

    choices: list[_Choice] | None = None
    usage: _Counts | None = None


class _SseReader:
    def __init__(self, request: ChatRequest) -> None:
        self._request = request
        self._finish: str | None = None
        self._usage: _Counts | None = None
        self._chars = 0
        self._calls = ToolCallAssembler()
        self.finished = False

    def document(self, data: bytes) -> Chunk | None:
        self.finished = True
        return self._take(parse_event(_Event, data))

    def tool_calls(self) -> tuple[ModelToolCall, ...]:
        return self._calls.calls()

    def feed(self, line: bytes) -> Chunk | None:
        if not line.startswith(b"data:"):
            return None  # blank separators, ": comments", "event:" / "id:" fields
        data = line[5:].strip()
        if data == _DONE:
            self.finished = True
            return None
        return self._take(parse_event(_Event, data))

    def _take(self, event: _Event) -> Chunk | None:
        self._usage = event.usage or self._usage
        text = []
        for choice in event.choices or ():
            self._finish = choice.finish_reason or self._finish
            delta = choice.delta or choice.message
            if delta is None:
                continue
            if delta.content:
                text.append(delta.content)
            for call in delta.tool_calls or ():
                function = call.function or _Function()
                arguments = function.arguments
                self._calls.add(call.index, call.id, function.name,
                                arguments if isinstance(arguments, str | None)
                                else arguments_text(arguments))
        if not text:
            return None
        joined = "".join(text)
        self._chars += len(joined)
        return Chunk(joined)

    def usage(self) -> Usage:
        counts = self._usage or _Counts()
        finish = self._finish
        if finish in (None, "stop") and self._calls.calls():
            finish = "tool_calls"  # what OpenAI says; some compatible servers say "stop"
        return usage_of(self._request, prompt=counts.prompt_tokens,
                        completion=counts.completion_tokens, produced_chars=self._chars,
                        finish=finish)
