"""The OpenAI chat-completions wire format: request validation and response objects."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlx_daemon.errors import ApiError, bad_request
from mlx_daemon.tool_calls import ToolCall
from mlx_daemon.tools import (
    AssistantToolCall,
    CheckedToolChoice,
    ToolChoice,
    ToolSpec,
    check_tool_choice,
    template_arguments,
)

__all__ = [
    "DEFAULT_TEMPERATURE",
    "ChatCompletionRequest",
    "CompletionIdentity",
    "GenerationRequest",
    "Usage",
    "chunk",
    "completion",
    "parse_chat_request",
    "sse",
    "tool_call_deltas",
    "usage_chunk",
]

DEFAULT_TEMPERATURE = 1.0  # OpenAI's default
MAX_STOP_SEQUENCES = 4


class _ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, tool_call_id...
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_ContentPart] | None = None
    tool_calls: list[AssistantToolCall] | None = None

    def template_dict(self) -> dict[str, Any]:
        """The message as a chat template expects it: text parts joined into one string,
        tool-call arguments as objects."""
        data = self.model_dump(exclude_none=True)
        for call in data.get("tool_calls", []):
            call["function"]["arguments"] = template_arguments(call["function"]["arguments"])
        if isinstance(self.content, list):
            kinds = {part.type for part in self.content} - {"text"}
            if kinds:
                raise bad_request(
                    f"unsupported content part type(s): {', '.join(sorted(kinds))}; "
                    "this server accepts text only",
                    param="messages",
                )
            data["content"] = "".join(part.text or "" for part in self.content)
        elif self.content is None:
            data["content"] = ""
        return data


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's request this server honours; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[int, float] | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: CheckedToolChoice | None = None
    parallel_tool_calls: bool = True

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return value


@dataclass(frozen=True)
class GenerationRequest:
    """What the compute worker needs from one validated request."""

    model: str
    messages: tuple[dict[str, Any], ...]
    max_tokens: int | None = None
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[int, float] | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True
    stream: bool = False
    include_usage: bool = False

    def prompt_chars(self) -> int:
        """Characters of every message's text: a cheap bound on the work of tokenizing."""
        return sum(len(str(m.get("content") or "")) for m in self.messages)


def _describe(exc: ValidationError) -> ApiError:
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return bad_request(f"Missing required parameter: '{loc}'.", param=loc)
    if loc == "n":
        return bad_request("Only n=1 is supported.", param="n")
    message = error["msg"].removeprefix("Value error, ")
    return bad_request(f"Invalid value for '{loc}': {message}.", param=loc)


def parse_chat_request(body: object) -> GenerationRequest:
    """Validate a decoded JSON body; raise a 400 :class:`ApiError` naming the parameter."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    try:
        request = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise _describe(exc) from None
    check_tool_choice(request.tools, request.tool_choice)
    stop = request.stop
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    return GenerationRequest(
        model=request.model,
        messages=tuple(message.template_dict() for message in request.messages),
        max_tokens=request.max_completion_tokens or request.max_tokens,
        temperature=DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        seed=request.seed,
        stop=tuple(s for s in stops if s),
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        logit_bias=request.logit_bias,
        tools=tuple(t.model_dump(exclude_none=True) for t in request.tools or ()) or None,
        tool_choice=request.tool_choice or "auto",
        parallel_tool_calls=request.parallel_tool_calls,
        stream=request.stream,
        include_usage=bool(request.stream_options and request.stream_options.include_usage),
    )


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(frozen=True)
class CompletionIdentity:
    """The fields every object of one completion shares."""

    model: str
    fingerprint: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def header(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.fingerprint,
        }


def chunk(
    ident: CompletionIdentity,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    *,
    include_usage: bool = False,
) -> dict[str, Any]:
    body = ident.header("chat.completion.chunk")
    body["choices"] = [
        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    ]
    if include_usage:
        body["usage"] = None
    return body


def usage_chunk(ident: CompletionIdentity, usage: Usage) -> dict[str, Any]:
    body = ident.header("chat.completion.chunk")
    body["choices"] = []
    body["usage"] = usage.as_dict()
    return body


def tool_call_deltas(call: ToolCall, index: int) -> list[dict[str, Any]]:
    """The stream deltas of one call: id, type and name first, then the arguments."""
    head = {"index": index, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": ""}}  # fmt: skip
    return [
        {"tool_calls": [head]},
        {"tool_calls": [{"index": index, "function": {"arguments": call.arguments}}]},
    ]


def completion(
    ident: CompletionIdentity,
    text: str,
    finish_reason: str,
    usage: Usage,
    tool_calls: list[ToolCall] | None = None,
) -> dict[str, Any]:
    body = ident.header("chat.completion")
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["content"] = text or None
        message["tool_calls"] = [call.as_dict() for call in tool_calls]
    body["choices"] = [
        {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
    ]
    body["usage"] = usage.as_dict()
    return body


def sse(payload: dict[str, Any] | str) -> bytes:
    """One server-sent event: ``data: <json>`` (or a literal such as ``[DONE]``)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()
