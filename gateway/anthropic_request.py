"""The request body of Anthropic's Messages API (``POST /v1/messages``), checked and
turned into a :class:`~gateway.dialect.ParsedCall`; and the body of its token counting
(``POST /v1/messages/count_tokens``), the same but for ``max_tokens``, which it does not
require.

The body is validated with pydantic, as strictly as Anthropic's own API: a missing or
mistyped field, or one the API does not have, is a :class:`~gateway.errors.BadRequest`
naming its path (``messages.2.content.0.tool_use_id``). A field of the API that homecrew
cannot honour (``top_k``, ``thinking``, image blocks, server tools…) is an
:class:`~gateway.errors.Unsupported` naming it, never silently dropped. Hints that change
nothing about the answer (``metadata``, ``service_tier``, ``cache_control``) are accepted
and ignored.

Content blocks map onto the chain's messages: an assistant turn's ``tool_use`` blocks
become its ``tool_calls``; a user turn's ``tool_result`` blocks become ``tool`` messages
(``is_error`` is said in their text), followed by the turn's text, if any.
``tool_choice`` ``{"type": "tool", "name": …}`` is expressed as that one tool, required.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from gateway.dialect import ParsedCall
from gateway.errors import BadRequest, Unsupported
from inference.types import Message, ModelToolCall, ToolChoice, ToolFunction

__all__ = ["TOOL_ERROR_PREFIX", "parse_count_tokens_request", "parse_messages_request"]

TOOL_ERROR_PREFIX = "Error: "  # a tool_result with is_error, as the chain's tool message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _as_blocks(value: object) -> object:
    """A string content is shorthand for one text block."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if not isinstance(value, list):
        raise ValueError("must be a string or a list of content blocks")
    return value


_Blocks = Annotated[list[dict[str, Any]], BeforeValidator(_as_blocks)]


class _Text(_Strict):
    type: Literal["text"]
    text: str
    cache_control: dict[str, Any] | None = None  # a prompt-caching hint: ignored
    citations: list[dict[str, Any]] | None = None  # echoed from an earlier reply: ignored


class _ToolUse(_Strict):
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: dict[str, Any]
    cache_control: dict[str, Any] | None = None


class _ToolResult(_Strict):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: _Blocks = []
    is_error: bool = False
    cache_control: dict[str, Any] | None = None


class _Message(_Strict):
    role: Literal["user", "assistant"]
    content: _Blocks


class _Tool(_Strict):
    type: Literal["custom"] | None = None
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    description: str = ""
    input_schema: dict[str, Any]
    cache_control: dict[str, Any] | None = None
    eager_input_streaming: bool | None = None  # how finely input streams: ignored
    strict: bool | None = None


class _ToolChoice(_Strict):
    type: Literal["auto", "any", "none", "tool"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class _Metadata(_Strict):
    user_id: str | None = None


class _CountRequest(_Strict):
    """A ``count_tokens`` body: the Messages API's fields, ``max_tokens`` not required."""

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=0)
    messages: list[_Message] = Field(min_length=1)
    system: Annotated[list[_Text], BeforeValidator(_as_blocks)] = []
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = None
    stop_sequences: list[str] = []
    stream: bool = False
    tools: list[dict[str, Any]] = []
    tool_choice: _ToolChoice | None = None
    thinking: dict[str, Any] | None = None
    metadata: _Metadata | None = None  # accepted, ignored
    service_tier: Literal["auto", "standard_only"] | None = None  # Anthropic's capacity
    cache_control: dict[str, Any] | None = None  # a prompt-caching hint: ignored
    # parameters of the API that homecrew cannot honour: named in a 400 when set
    container: Any = None
    context_management: Any = None
    mcp_servers: Any = None
    output_config: Any = None
    speed: Any = None
    inference_geo: Any = None
    diagnostics: Any = None
    user_profile_id: Any = None
    workspace_id: Any = None


class _Request(_CountRequest):
    """A ``/v1/messages`` body: ``max_tokens`` is required."""

    max_tokens: int = Field(ge=0)


_UNSUPPORTED_FIELDS = ("container", "context_management", "mcp_servers", "output_config",
                       "speed", "inference_geo", "diagnostics", "user_profile_id",
                       "workspace_id")
_M = TypeVar("_M", bound=BaseModel)


def parse_messages_request(body: object) -> ParsedCall:
    """The call in a ``/v1/messages`` body (decoded JSON); a bad field raises
    :class:`BadRequest` (or :class:`Unsupported`) naming its path."""
    return _parsed(_check(_Request, _object(body), ""))


def parse_count_tokens_request(body: object) -> ParsedCall:
    """The call a ``/v1/messages/count_tokens`` body describes, checked exactly as a
    ``/v1/messages`` body is, except that ``max_tokens`` may be left out."""
    return _parsed(_check(_CountRequest, _object(body), ""))


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _parsed(request: _CountRequest) -> ParsedCall:
    _refuse_unsupported(request)
    tools, choice = _tools(request)
    return ParsedCall(
        model=request.model,
        messages=_messages(request.messages),
        stream=request.stream,
        system="\n".join(block.text for block in request.system) or None,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        top_p=request.top_p,
        stop=tuple(request.stop_sequences),
        tools=tools,
        tool_choice=choice,
    )


def _check(model: type[_M], value: object, where: str) -> _M:
    """``value`` as ``model``; a :class:`BadRequest` naming the first bad field (its
    path under ``where``) when it does not fit."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        path = ".".join([where, *map(str, first["loc"])] if where else map(str, first["loc"]))
        path = path or "body"
        if first["type"] == "extra_forbidden":
            raise Unsupported(path, "not a Messages API parameter homecrew takes") from None
        message = first["msg"].removeprefix("Value error, ")
        raise BadRequest(f"{path}: {message}", param=path) from None


def _refuse_unsupported(request: _CountRequest) -> None:
    for name in _UNSUPPORTED_FIELDS:
        if getattr(request, name) is not None:
            raise Unsupported(name, "not supported by homecrew")
    if request.top_k is not None:
        raise Unsupported("top_k", "the local-first chain has no top_k; use top_p")
    if request.thinking is not None and request.thinking.get("type") != "disabled":
        raise Unsupported("thinking", "extended thinking is not supported; omit it or "
                          "send {\"type\": \"disabled\"}")
    if request.max_tokens == 0:
        raise Unsupported("max_tokens", "0 (warming Anthropic's prompt cache) is not "
                          "supported; ask for at least 1 token")


def _tools(request: _CountRequest) -> tuple[tuple[ToolFunction, ...], ToolChoice | None]:
    tools: list[ToolFunction] = []
    for i, raw in enumerate(request.tools):
        kind = raw.get("type")
        if kind not in (None, "custom"):
            raise Unsupported(f"tools.{i}.type", f"{kind!r}: Anthropic's server tools are "
                              "not supported; define the tool with an input_schema")
        tool = _check(_Tool, raw, f"tools.{i}")
        if tool.strict:
            raise Unsupported(f"tools.{i}.strict", "strict tool input is not guaranteed "
                              "by the local-first chain")
        if tool.input_schema.get("type") != "object":
            raise BadRequest(f"tools.{i}.input_schema.type: must be 'object'",
                             param=f"tools.{i}.input_schema.type")
        tools.append(ToolFunction(tool.name, tool.description, tool.input_schema))
    choice = request.tool_choice
    if choice is None:
        return tuple(tools), None
    if choice.disable_parallel_tool_use:
        raise Unsupported("tool_choice.disable_parallel_tool_use",
                          "the chain cannot stop the model from calling tools in parallel")
    if choice.type in ("any", "tool") and not tools:
        raise BadRequest(f"tool_choice: {choice.type!r} needs tools", param="tool_choice")
    if choice.type == "tool":
        chosen = [tool for tool in tools if tool.name == choice.name]
        if not chosen:
            raise BadRequest(f"tool_choice.name: no tool named {choice.name!r} in tools",
                             param="tool_choice.name")
        return tuple(chosen), "required"  # that tool, and only it, must be called
    if choice.name is not None:
        raise BadRequest("tool_choice.name: only for type 'tool'", param="tool_choice.name")
    return tuple(tools), _CHOICES[choice.type]


_CHOICES: dict[str, ToolChoice] = {"auto": "auto", "any": "required", "none": "none"}


def _messages(messages: list[_Message]) -> tuple[Message, ...]:
    out: list[Message] = []
    names: dict[str, str] = {}  # tool_use id → the tool's name, for the results
    for i, message in enumerate(messages):
        where = f"messages.{i}.content"
        if message.role == "assistant":
            out.append(_assistant(message.content, where, names))
        else:
            out.extend(_user(message.content, where, names))
    return tuple(out)


def _assistant(blocks: list[dict[str, Any]], where: str, names: dict[str, str]) -> Message:
    texts: list[str] = []
    calls: list[ModelToolCall] = []
    for j, block in enumerate(blocks):
        kind = _kind(block, f"{where}.{j}", ("text", "tool_use"), "assistant")
        if kind == "text":
            texts.append(_check(_Text, block, f"{where}.{j}").text)
            continue
        use = _check(_ToolUse, block, f"{where}.{j}")
        names[use.id] = use.name
        calls.append(ModelToolCall(use.id, use.name, json.dumps(use.input, ensure_ascii=False)))
    return Message(role="assistant", content="\n".join(texts), tool_calls=tuple(calls))


def _user(blocks: list[dict[str, Any]], where: str, names: dict[str, str]) -> list[Message]:
    """The turn's tool results (as ``tool`` messages, which must directly follow the
    assistant's calls), then its text."""
    results: list[Message] = []
    texts: list[str] = []
    for j, block in enumerate(blocks):
        kind = _kind(block, f"{where}.{j}", ("text", "tool_result"), "user")
        if kind == "text":
            texts.append(_check(_Text, block, f"{where}.{j}").text)
        else:
            results.append(_tool_message(_check(_ToolResult, block, f"{where}.{j}"),
                                         f"{where}.{j}", names))
    if texts or not results:
        results.append(Message(role="user", content="\n".join(texts)))
    return results


def _tool_message(block: _ToolResult, where: str, names: dict[str, str]) -> Message:
    name = names.get(block.tool_use_id)
    if name is None:
        raise BadRequest(f"{where}.tool_use_id: {block.tool_use_id!r} answers no tool_use "
                         "block of an earlier assistant message", param=f"{where}.tool_use_id")
    texts = []
    for k, part in enumerate(block.content):
        _kind(part, f"{where}.content.{k}", ("text",), "tool_result")
        texts.append(_check(_Text, part, f"{where}.content.{k}").text)
    text = "\n".join(texts)
    if block.is_error:
        text = TOOL_ERROR_PREFIX + text
    return Message(role="tool", content=text, tool_call_id=block.tool_use_id, name=name)


def _kind(block: dict[str, Any], where: str, allowed: tuple[str, ...], holder: str) -> str:
    """The block's ``type``, if ``allowed`` in a ``holder`` (a role, or a tool_result)."""
    kind = block.get("type")
    if kind in allowed:
        return str(kind)
    if not isinstance(kind, str):
        raise BadRequest(f"{where}.type: Field required", param=f"{where}.type")
    if kind in ("text", "tool_use", "tool_result"):
        raise BadRequest(f"{where}.type: {kind} blocks do not belong in {holder} content",
                         param=f"{where}.type")
    raise Unsupported(f"{where}.type", f"{kind!r} content blocks are not supported "
                      "(homecrew takes text, tool_use and tool_result)")
