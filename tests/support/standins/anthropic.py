"""Stand-in for Anthropic's Messages API (``POST /v1/messages``, ``GET /v1/models``).

Requires ``x-api-key`` (401 ``authentication_error``) and ``anthropic-version`` (400). Streams
SSE with both ``event:`` and ``data:`` lines: ``message_start``, ``content_block_start``,
``ping``, ``content_block_delta``…, ``content_block_stop``, ``message_delta`` (cumulative
``usage.output_tokens``), ``message_stop``; a mid-stream failure is ``event: error``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from .base import Rejected, Reply, ReplyPlan, StandinServer, StreamCodec
from .script import Script, count_words

__all__ = ["AnthropicStandin", "anthropic_error"]

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error(status: int, message: str | None = None) -> dict[str, Any]:
    kind, default = _ERRORS.get(status, ("api_error", f"HTTP {status}"))
    return {"type": "error", "error": {"type": kind, "message": message or default}}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass
class _MessageStream(StreamCodec):
    content_type: ClassVar[str] = "text/event-stream; charset=utf-8"
    message: dict[str, Any]
    reply: Reply

    def opening(self) -> list[bytes]:
        usage = {"input_tokens": self.reply.usage.prompt_tokens, "output_tokens": 1}
        start = {**self.message, "content": [], "stop_reason": None, "usage": usage}
        block = {"type": "text", "text": ""}
        return [
            _event("message_start", {"type": "message_start", "message": start}),
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            ),
            _event("ping", {"type": "ping"}),
        ]

    def delta(self, text: str, index: int) -> bytes:
        delta = {"type": "text_delta", "text": text}
        return _event(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )

    def error(self, message: str | None) -> bytes:
        return _event("error", anthropic_error(529, message))

    def tool_calls(self) -> list[bytes]:
        """The text block's end, then one ``tool_use`` block per call, its input streamed
        as ``input_json_delta`` pieces (what the real API sends)."""
        if not self.reply.tool_calls:
            return []
        frames = [_event("content_block_stop", {"type": "content_block_stop", "index": 0})]
        for index, call in enumerate(self.reply.tool_calls, start=1):
            block = {"type": "tool_use", "id": call.id or f"toolu_{uuid.uuid4().hex[:24]}",
                     "name": call.name, "input": {}}
            text = call.arguments_text()
            half = len(text) // 2
            frames.append(_event("content_block_start", {
                "type": "content_block_start", "index": index, "content_block": block}))
            for piece in (text[:half], text[half:]):
                frames.append(_event("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}))
            frames.append(_event("content_block_stop",
                                 {"type": "content_block_stop", "index": index}))
        return frames

    def closing(self) -> list[bytes]:
        calls = bool(self.reply.tool_calls)
        delta = {"stop_reason": "tool_use" if calls else "end_turn", "stop_sequence": None}
        usage = {"output_tokens": self.reply.usage.completion_tokens}
        stop = [] if calls else [
            _event("content_block_stop", {"type": "content_block_stop", "index": 0})]
        return [
            *stop,
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}),
            _event("message_stop", {"type": "message_stop"}),
        ]


class AnthropicStandin(StandinServer):
    """Anthropic Messages API. ``api_key`` (when set) must match ``x-api-key`` exactly;
    ``models`` (when set) restricts the accepted models (others: 404 ``not_found_error``)."""

    busy_status: ClassVar[int] = 529

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] | None = None,
        script: Script | None = None,
        max_in_flight: int | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(script=script, max_in_flight=max_in_flight, port=port)
        self.api_key = api_key
        self.models = list(models) if models is not None else None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/models", self._models), web.post("/v1/messages", self._messages)]

    def error_response(self, status: int, message: str | None = None) -> web.Response:
        response = web.json_response(anthropic_error(status, message), status=status)
        response.headers["request-id"] = f"req_{uuid.uuid4().hex[:24]}"
        return response

    def _check_headers(self, request: web.Request) -> None:
        key = request.headers.get("x-api-key")
        if not key or (self.api_key is not None and key != self.api_key):
            raise Rejected(self.error_response(401, "invalid x-api-key"))
        if not request.headers.get("anthropic-version"):
            raise Rejected(self.error_response(400, "anthropic-version: header is required"))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self._check_headers(request)
        ids = self.models if self.models is not None else ["claude-haiku-4-5"]
        data = [
            {"type": "model", "id": i, "display_name": i, "created_at": "2025-10-01T00:00:00Z"}
            for i in ids
        ]
        first, last = (ids[0], ids[-1]) if ids else (None, None)
        return web.json_response(
            {"data": data, "has_more": False, "first_id": first, "last_id": last}
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self._check_headers(request)
        body = await self.read_json(request)
        model = self._validate(body)
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_sequence": None,
        }
        words = count_words([body.get("system"), body["messages"]])
        plan = ReplyPlan(
            stream=bool(body.get("stream", False)),
            model=model,
            prompt_words=words,
            codec=lambda reply: _MessageStream(message, reply),
            body=lambda reply: _message(message, reply),
        )
        return await self.serve_reply(request, plan)

    def _validate(self, body: Any) -> str:
        def reject(status: int, text: str) -> Rejected:
            return Rejected(self.error_response(status, text))

        if not isinstance(body, dict):
            raise reject(400, "body: Input should be an object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise reject(400, "model: Field required")
        if not isinstance(body.get("max_tokens"), int):
            raise reject(400, "max_tokens: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise reject(400, "messages: Field required")
        if self.models is not None and model not in self.models:
            raise reject(404, f"model: {model}")
        return model


def _message(message: dict[str, Any], reply: Reply) -> dict[str, Any]:
    usage = {
        "input_tokens": reply.usage.prompt_tokens,
        "output_tokens": reply.usage.completion_tokens,
    }
    return {
        **message,
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": "end_turn",
        "usage": usage,
    }
