"""OpenAI's Chat Completions API: ``POST /v1/chat/completions`` and ``GET /v1/models``.

:class:`OpenAIDialect` validates a request body (pydantic; a 400 names the field as
``param``), and renders the chain's answer in the shapes of OpenAI's API reference: a
``chat.completion`` object, or ``chat.completion.chunk`` server-sent events ending with
``data: [DONE]`` (tool calls as streamed deltas; with ``stream_options.include_usage`` a
last chunk with ``usage`` and no choices). A failure after the stream began is sent as
``data: {"error": {...}}``, which the ``openai`` SDK raises as an ``APIError``.

``tools``, ``tool_choice`` (``auto``, ``required``, ``none``) and ``response_format`` pass
through. Parameters homecrew cannot honour (``n > 1``, ``logprobs``, ``functions``,
penalties, a named ``tool_choice``…) get a 400 naming them; harmless ones (``user``,
``metadata``, ``store``…) are accepted.

The streamed path is kept lean: the constant parts of a chunk are encoded once per
reply, and each text delta costs one ``json.dumps`` of its text.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.calls import Gateway, answer
from gateway.dialect import ParsedCall
from gateway.errors import BadRequest, GatewayError, Unsupported
from inference.types import (
    Message,
    ModelToolCall,
    ReplyDone,
    StreamEvent,
    TextDelta,
    ToolChoice,
    ToolFunction,
)

__all__ = ["OpenAIDialect", "error_body", "routes"]

log = logging.getLogger(__name__)
_CODES = {404: "model_not_found", 413: "request_too_large", 429: "rate_limit_exceeded"}


# -- request ---------------------------------------------------------------------------------

class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _FunctionCall(_Loose):
    name: str
    arguments: str = "{}"


class _ToolCall(_Loose):
    id: str
    type: Literal["function"] = "function"
    function: _FunctionCall


class _Message(_Loose):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None


class _StreamOptions(_Loose):
    include_usage: bool | None = None


class _FunctionDef(_Loose):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _Tool(_Loose):
    type: Literal["function"]
    function: _FunctionDef


class _NamedFunction(_Loose):
    name: str


class _NamedChoice(_Loose):
    type: Literal["function"]
    function: _NamedFunction


class _ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: Literal["text", "json_object", "json_schema"]


class ChatBody(BaseModel):
    """A ``POST /v1/chat/completions`` body; unknown arguments are refused (as OpenAI does)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    messages: list[_Message] = Field(min_length=1)
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    response_format: _ResponseFormat | None = None
    tools: list[_Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | _NamedChoice | None = None
    parallel_tool_calls: bool | None = None
    # harmless: accepted, no effect on the answer
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    # refused unless neutral (see _refuse_unsupported)
    n: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    functions: list[Any] | None = None
    function_call: Any = None
    modalities: list[str] | None = None
    audio: Any = None
    prediction: Any = None
    reasoning_effort: str | None = None
    web_search_options: Any = None


def _refuse_unsupported(body: ChatBody) -> None:
    if body.n not in (None, 1):
        raise Unsupported("n", "homecrew answers with one choice (n=1)")
    if body.logprobs or body.top_logprobs:
        raise Unsupported("logprobs" if body.logprobs else "top_logprobs",
                          "log probabilities are not returned")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(body, name):
            raise Unsupported(name, "penalties are not supported")
    if body.logit_bias:
        raise Unsupported("logit_bias", "not supported")
    if body.functions is not None or body.function_call is not None:
        raise Unsupported("functions" if body.functions is not None else "function_call",
                          "deprecated; use tools and tool_choice")
    if body.modalities is not None and list(body.modalities) != ["text"]:
        raise Unsupported("modalities", "only text is supported")
    for name in ("audio", "prediction", "reasoning_effort", "web_search_options"):
        if getattr(body, name) is not None:
            raise Unsupported(name, "not supported")
    if isinstance(body.tool_choice, _NamedChoice):
        raise Unsupported("tool_choice", "naming a function is not supported; use "
                          "\"auto\", \"required\" or \"none\"")
    if body.stream_options is not None and not body.stream:
        raise BadRequest("stream_options: only allowed when stream is true",
                         param="stream_options")


def _text(content: str | list[dict[str, Any]] | None, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[str] = []
    for j, part in enumerate(content):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise Unsupported(f"{where}.content[{j}]",
                              f"only text parts are supported, not {part.get('type')!r}")
        parts.append(part["text"])
    return "".join(parts)


def _message(message: _Message, index: int) -> Message:
    where = f"messages[{index}]"
    text = _text(message.content, where)
    if message.role in ("system", "developer"):
        return Message("system", text)
    if message.role == "user":
        return Message("user", text)
    if message.role == "assistant":
        calls = tuple(ModelToolCall(c.id, c.function.name, c.function.arguments)
                      for c in message.tool_calls or ())
        return Message("assistant", text, tool_calls=calls)
    if not message.tool_call_id:
        raise BadRequest(f"{where}.tool_call_id: required for a tool message",
                         param=f"{where}.tool_call_id")
    return Message("tool", text, tool_call_id=message.tool_call_id, name=message.name)


def _param(loc: Sequence[int | str]) -> str:
    """``messages[0].content`` from pydantic's location (union member tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part[:1].islower() and "[" not in part and part not in _TYPE_TAGS:
            out += f".{part}" if out else part
    return out or "body"


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def parse_body(body: object) -> ChatBody:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", param="body")
    try:
        return ChatBody.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = _param(first["loc"])
        message = ("unrecognized request argument" if first["type"] == "extra_forbidden"
                   else first["msg"])
        raise BadRequest(f"{param}: {message}", param=param) from None


class OpenAIDialect:
    """OpenAI's chat shapes (the :class:`~gateway.dialect.Dialect` protocol)."""

    def parse(self, body: object) -> ParsedCall:
        chat = parse_body(body)
        _refuse_unsupported(chat)
        stop = (chat.stop,) if isinstance(chat.stop, str) else tuple(chat.stop or ())
        fmt = chat.response_format
        choice: ToolChoice | None = (chat.tool_choice if isinstance(chat.tool_choice, str)
                                     else None)
        return ParsedCall(
            model=chat.model,
            messages=[_message(m, i) for i, m in enumerate(chat.messages)],
            stream=bool(chat.stream),
            include_usage=bool(chat.stream_options and chat.stream_options.include_usage),
            temperature=chat.temperature,
            max_tokens=chat.max_completion_tokens or chat.max_tokens,
            top_p=chat.top_p,
            stop=stop,
            seed=chat.seed,
            response_format=None if fmt is None or fmt.type == "text" else fmt.model_dump(),
            tools=tuple(ToolFunction(t.function.name, t.function.description or "",
                                     t.function.parameters or {"type": "object"})
                        for t in chat.tools or ()),
            tool_choice=choice,
        )

    def reply(self, call: ParsedCall, done: ReplyDone) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": done.text or None,
                                   "refusal": None}
        if done.tool_calls:
            message["tool_calls"] = [_tool_call(c) for c in done.tool_calls]
        return {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": _finish_reason(done)}],
            "usage": _usage(done),
        }

    async def stream(self, call: ParsedCall, events: AsyncIterator[StreamEvent]
                     ) -> AsyncIterator[bytes]:
        frames = _ChunkFrames(call)
        yield frames.choice(b'{"role":"assistant","content":""}')
        done: ReplyDone | None = None
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    yield frames.text(event.text)
                elif isinstance(event, ModelToolCall):
                    yield frames.tool_call(event)
                else:
                    done = event
        except GatewayError as exc:
            yield _sse_error(exc)
            return
        except Exception:  # headers are out: say so in the stream, never cut it silently
            log.exception("unexpected failure while streaming %s", call.model)
            yield _sse_error(GatewayError("internal error"))
            return
        if done is None or done.interrupted is not None:
            why = done.interrupted if done is not None else "no final record"
            yield _sse_error(GatewayError(f"the reply was interrupted: {why}"))
            return
        yield frames.choice(b"{}", _finish_reason(done))
        if call.include_usage:
            yield frames.usage(done)
        yield b"data: [DONE]\n\n"

    def error(self, error: GatewayError) -> dict[str, Any]:
        return error_body(error)


def error_body(error: GatewayError) -> dict[str, Any]:
    """OpenAI's ``{"error": {message, type, param, code}}``."""
    return {"error": {"message": error.message, "type": error.openai_type,
                      "param": error.param, "code": _CODES.get(error.status)}}


# -- response --------------------------------------------------------------------------------

class _ChunkFrames:
    """The ``chat.completion.chunk`` frames of one reply; constant parts encoded once."""

    def __init__(self, call: ParsedCall) -> None:
        head = json.dumps({"id": _completion_id(), "object": "chat.completion.chunk",
                           "created": int(time.time()), "model": call.model,
                           "system_fingerprint": None})
        self._head = b"data: " + head[:-1].encode()  # without its closing brace
        self._open = self._head + b',"choices":[{"index":0,"delta":'
        self._usage_null = b',"usage":null' if call.include_usage else b""
        self._close = b',"logprobs":null,"finish_reason":null}]' + self._usage_null + b"}\n\n"
        self._tools = 0

    def text(self, text: str) -> bytes:
        return self._open + b'{"content":' + json.dumps(text).encode() + b"}" + self._close

    def choice(self, delta: bytes, finish_reason: str | None = None) -> bytes:
        if finish_reason is None:
            return self._open + delta + self._close
        return (self._open + delta + b',"logprobs":null,"finish_reason":"'
                + finish_reason.encode() + b'"}]' + self._usage_null + b"}\n\n")

    def tool_call(self, call: ModelToolCall) -> bytes:
        """Two deltas, as OpenAI streams them: id, type and name; then the arguments."""
        index = self._tools
        self._tools += 1
        opening = json.dumps({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                              "function": {"name": call.name, "arguments": ""}}]})
        arguments = json.dumps({"tool_calls": [{"index": index,
                                                "function": {"arguments": call.arguments}}]})
        return self.choice(opening.encode()) + self.choice(arguments.encode())

    def usage(self, done: ReplyDone) -> bytes:
        return (self._head + b',"choices":[],"usage":' + json.dumps(_usage(done)).encode()
                + b"}\n\n")


def _sse_error(error: GatewayError) -> bytes:
    return b"data: " + json.dumps(error_body(error)).encode() + b"\n\n"


def _completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


def _tool_call(call: ModelToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}


def _finish_reason(done: ReplyDone) -> str:
    if done.tool_calls:
        return "tool_calls"
    if done.finish_reason in ("length", "content_filter"):
        return done.finish_reason
    return "stop"


def _usage(done: ReplyDone) -> dict[str, int]:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}


# -- handlers --------------------------------------------------------------------------------

DIALECT = OpenAIDialect()


class _Handlers:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await answer(self._gateway, DIALECT, request)

    async def models(self, request: web.Request) -> web.StreamResponse:
        grant = await self._gateway.gate.admit(request.headers)
        data = [{"id": t.name, "object": "model", "created": 0, "owned_by": t.owned_by,
                 "homecrew": {"kind": t.kind, "route": t.route, "embedding": t.embedding}}
                for t in self._gateway.catalog
                if grant.routes is None or any(r in grant.routes for r in t.routes)]
        return web.json_response({"object": "list", "data": data})


def routes(gateway: Gateway) -> list[web.RouteDef]:
    """``POST /v1/chat/completions`` and ``GET /v1/models``."""
    handlers = _Handlers(gateway)
    return [web.post("/v1/chat/completions", handlers.chat),
            web.get("/v1/models", handlers.models)]
