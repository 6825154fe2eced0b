"""Stand-in for an OpenAI-compatible server (``/v1/models``, ``/v1/chat/completions``,
``/v1/embeddings``: vectors from :mod:`.embedding`, as floats or base64 little-endian float32).

Plain mode follows OpenAI's API; :meth:`OpenAIQuirks.mlx_lm` switches on the wire habits of the
real ``mlx_lm.server`` (role repeated in every chunk, ``: keepalive n/m`` comment lines while the
prompt is processed, its usage chunk typed ``chat.completion``).
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from .base import Rejected, Reply, ReplyPlan, StandinServer, StreamCodec
from .embedding import DEFAULT_SIZE, embedding_of, input_texts, prompt_tokens
from .script import Script, count_words

__all__ = ["OpenAIQuirks", "OpenAIStandin", "openai_error"]

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def openai_error(status: int, message: str | None = None) -> dict[str, Any]:
    kind, code, default = _ERRORS.get(status, ("server_error", None, f"HTTP {status}"))
    return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}


@dataclass(frozen=True)
class OpenAIQuirks:
    """Deviations of real OpenAI-compatible servers from OpenAI's own stream format."""

    repeat_role: bool = False
    keepalive_comments: int = 0
    usage_object: str = "chat.completion.chunk"

    @classmethod
    def mlx_lm(cls, keepalive_comments: int = 2) -> OpenAIQuirks:
        return cls(True, keepalive_comments, "chat.completion")


@dataclass
class _ChatStream(StreamCodec):
    content_type: ClassVar[str] = "text/event-stream"
    head: dict[str, Any]
    reply: Reply
    quirks: OpenAIQuirks
    include_usage: bool

    def __post_init__(self) -> None:
        self.keepalive_count = self.quirks.keepalive_comments

    def keepalive(self, index: int, count: int) -> bytes:
        return f": keepalive {index + 1}/{count}\n\n".encode()

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body: dict[str, Any] = {**self.head, "choices": [choice]}
        if self.include_usage:
            body["usage"] = None
        return _sse(body)

    def delta(self, text: str, index: int) -> bytes:
        role = index == 0 or self.quirks.repeat_role
        return self._chunk(
            {"role": "assistant", "content": text} if role else {"content": text}, None
        )

    def error(self, message: str | None) -> bytes:
        return _sse(openai_error(500, message))

    def tool_calls(self) -> list[bytes]:
        """Each call in two fragments: id, name and half the arguments, then the rest."""
        frames = []
        for index, call in enumerate(self.reply.tool_calls):
            text = call.arguments_text()
            half = len(text) // 2
            first = {"index": index, "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
                     "type": "function", "function": {"name": call.name, "arguments": text[:half]}}
            rest = {"index": index, "function": {"arguments": text[half:]}}
            frames += [self._chunk({"tool_calls": [first]}, None),
                       self._chunk({"tool_calls": [rest]}, None)]
        return frames

    def closing(self) -> list[bytes]:
        finish = "tool_calls" if self.reply.tool_calls else "stop"
        frames = [self._chunk({"role": "assistant"} if self.quirks.repeat_role else {}, finish)]
        if self.include_usage:
            usage = {**self.head, "object": self.quirks.usage_object, "choices": []}
            usage["usage"] = _usage(self.reply)
            frames.append(_sse(usage))
        frames.append(b"data: [DONE]\n\n")
        return frames


def _sse(body: Any) -> bytes:
    return f"data: {json.dumps(body)}\n\n".encode()


def _usage(reply: Reply) -> dict[str, int]:
    u = reply.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }


class OpenAIStandin(StandinServer):
    """OpenAI-compatible chat server.

    ``models`` is what ``GET /v1/models`` lists; with ``strict_models`` any other requested model
    gets a 404 (vLLM-style), otherwise any model is served (``mlx_lm.server`` loads what is named).
    ``api_key`` (when set) is required as ``Authorization: Bearer <key>``.
    ``OpenAIStandin(script=Script.hang())`` is a *wedged* server: ``GET /v1/models`` answers,
    completions never do (how an MLX server usually fails).
    Every model embeds (``/v1/embeddings``) into ``embedding_size`` numbers; with
    ``honours_dimensions`` off, ``dimensions`` is ignored (as many compatible servers do).
    """

    def __init__(
        self,
        *,
        models: Sequence[str] = ("mlx-community/Qwen2.5-14B-Instruct-4bit",),
        api_key: str | None = None,
        strict_models: bool = False,
        quirks: OpenAIQuirks | None = None,
        script: Script | None = None,
        max_in_flight: int | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(script=script, max_in_flight=max_in_flight, port=port)
        self.models = list(models)
        self.api_key = api_key
        self.strict_models = strict_models
        self.quirks = quirks if quirks is not None else OpenAIQuirks()
        self.embedding_size = DEFAULT_SIZE
        self.honours_dimensions = True

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/models", self._models),
            web.post("/v1/chat/completions", self._chat),
            web.post("/v1/embeddings", self._embeddings),
        ]

    def error_response(self, status: int, message: str | None = None) -> web.Response:
        return web.json_response(openai_error(status, message), status=status)

    def _check_auth(self, request: web.Request) -> None:
        if self.api_key is None:
            return
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise Rejected(self.error_response(401, "Incorrect API key provided."))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "standin"}
            for m in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        body = await self.read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self.error_response(400, "'messages' is a required property")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.error_response(400, "you must provide a model parameter")
        if self.strict_models and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return self.error_response(404, message)
        options = body.get("stream_options") or {}
        head = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
        }
        plan = ReplyPlan(
            stream=bool(body.get("stream", False)),
            model=model,
            prompt_words=count_words(body["messages"]),
            codec=lambda reply: _ChatStream(
                head, reply, self.quirks, bool(options.get("include_usage"))
            ),
            body=lambda reply: _completion(head, reply),
        )
        return await self.serve_reply(request, plan)


    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        body = await self.read_json(request)
        if not isinstance(body, dict):
            return self.error_response(400, "'input' is a required property")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.error_response(400, "you must provide a model parameter")
        if self.strict_models and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return self.error_response(404, message)
        texts = input_texts(body.get("input"))
        if texts is None:
            return self.error_response(400, "'input' must be a string or a list of strings")
        dimensions = body.get("dimensions")
        if dimensions is not None and not (isinstance(dimensions, int)
                                           and 1 <= dimensions <= self.embedding_size):
            return self.error_response(400, f"Invalid value for 'dimensions': {dimensions}")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return self.error_response(400, f"Invalid value for 'encoding_format': {encoding}")
        used = dimensions if self.honours_dimensions else None

        def answer(script: Script) -> dict[str, Any]:
            tokens = prompt_tokens(texts, script.prompt_tokens)
            data = [{"object": "embedding", "index": i,
                     "embedding": _encoded(embedding_of(t, self.embedding_size, used), encoding)}
                    for i, t in enumerate(texts)]
            return {"object": "list", "data": data, "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

        return await self.serve_document(request, answer)


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _completion(head: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None,
                               "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id or f"call_{uuid.uuid4().hex[:12]}", "type": "function",
             "function": {"name": c.name, "arguments": c.arguments_text()}}
            for c in reply.tool_calls]
    finish = "tool_calls" if reply.tool_calls else "stop"
    return {
        **head,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(reply),
    }
