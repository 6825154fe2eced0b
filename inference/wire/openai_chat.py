"""OpenAI's chat-completions protocol, streamed as server-sent events.

Request: ``POST {base_url}/chat/completions`` with ``stream: true`` and
``stream_options.include_usage`` (the last chunk before ``data: [DONE]`` carries
``usage`` and no choices). Tolerated quirks of compatible servers: comment lines
(``: keepalive``), the role repeated in every chunk, a usage chunk typed
``chat.completion``, ``usage: null`` on ordinary chunks.
"""

from __future__ import annotations

from typing import Any

from inference.step import Chunk, Step, Usage
from inference.types import ChatRequest
from inference.wire._base import WireModel, parse_event, usage_of

__all__ = ["OpenAIChat", "sampling_params"]

_DONE = b"[DONE]"


class OpenAIChat:
    name = "openai"

    def path(self) -> str:
        return "/chat/completions"

    def body(self, step: Step, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": step.upstream_model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
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
        "tools": [dict(t) for t in request.tools] or None,
    }
    return {k: v for k, v in optional.items() if v is not None}


class _Delta(WireModel):
    content: str | None = None


class _Choice(WireModel):
    delta: _Delta | None = None
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
        self.finished = False

    def feed(self, line: bytes) -> Chunk | None:
        if not line.startswith(b"data:"):
            return None  # blank separators, ": comments", "event:" / "id:" fields
        data = line[5:].strip()
        if data == _DONE:
            self.finished = True
            return None
        event = parse_event(_Event, data)
        self._usage = event.usage or self._usage
        text = []
        for choice in event.choices or ():
            self._finish = choice.finish_reason or self._finish
            piece = choice.delta.content if choice.delta is not None else None
            if piece:
                text.append(piece)
        if not text:
            return None
        joined = "".join(text)
        self._chars += len(joined)
        return Chunk(joined)

    def usage(self) -> Usage:
        counts = self._usage or _Counts()
        return usage_of(self._request, prompt=counts.prompt_tokens,
                        completion=counts.completion_tokens, produced_chars=self._chars,
                        finish=self._finish)
