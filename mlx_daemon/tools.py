"""What a request asks of tools: OpenAI ``tools``, ``tool_choice`` and tool-call history.

Request side only (the reply side is :mod:`mlx_daemon.tool_calls`). ``tool_choice``:

* ``"auto"`` (the default when tools are given): the model may call tools or answer;
* ``"none"``: the tools are not shown to the model and its reply is not parsed for calls;
* ``"required"``: the prompt ends with the model's tool-call start marker, so the reply
  is a call (to any offered tool);
* ``{"type": "function", "function": {"name": N}}``: only tool ``N`` is offered, and the
  reply is forced into a call as for ``"required"``.

The forcing is a prefilled marker, not constrained decoding: a model that then writes
something that does not parse gets it back as content, as for any malformed call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from mlx_daemon.errors import bad_request
from mlx_daemon.tool_calls import ToolCallSplitter, ToolSyntax

__all__ = [
    "AssistantToolCall",
    "CheckedToolChoice",
    "NamedToolChoice",
    "ToolChoice",
    "ToolPlan",
    "ToolRequest",
    "ToolSpec",
    "check_tool_choice",
    "plan_tools",
    "template_arguments",
]


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow")  # description, parameters, strict...
    name: str = Field(min_length=1, max_length=128)


class ToolSpec(BaseModel):
    """One entry of ``tools``; passed to the chat template as the client sent it."""

    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    function: FunctionSpec


class _ChosenFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1)


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"]
    function: _ChosenFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice
_CHOICE_ADAPTER: TypeAdapter[ToolChoice] = TypeAdapter(ToolChoice)


def _one_tool_choice_error(value: object, _handler: ValidatorFunctionWrapHandler) -> ToolChoice:
    """One clear message instead of one per member of the union."""
    try:
        return _CHOICE_ADAPTER.validate_python(value)
    except ValidationError:
        raise ValueError(
            "expected 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": ...}}'
        ) from None


CheckedToolChoice = Annotated[ToolChoice, WrapValidator(_one_tool_choice_error)]


class _CalledFunction(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    arguments: str | dict[str, Any] = "{}"


class AssistantToolCall(BaseModel):
    """A call in an assistant message of the history."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    type: Literal["function"] = "function"
    function: _CalledFunction


def template_arguments(arguments: str | dict[str, Any]) -> str | dict[str, Any]:
    """Arguments as chat templates expect them: an object (they render it with
    ``tojson``). OpenAI sends a JSON string; one that is not an object (another node's
    malformed call, replayed) is passed on as the text it is."""
    if isinstance(arguments, dict):
        return arguments
    try:
        decoded = json.loads(arguments)
    except ValueError:
        return arguments
    return decoded if isinstance(decoded, dict) else arguments


def check_tool_choice(tools: list[ToolSpec] | None, choice: ToolChoice | None) -> None:
    """A 400 for a ``tool_choice`` that cannot be honoured with these ``tools``."""
    if choice is None or choice in ("none", "auto"):
        return
    if not tools:
        raise bad_request(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
            "are specified.",
            param="tool_choice",
        )
    if isinstance(choice, NamedToolChoice):
        names = [tool.function.name for tool in tools]
        if choice.function.name not in names:
            raise bad_request(
                f"Invalid value for 'tool_choice': no tool named {choice.function.name!r} "
                f"in 'tools' (given: {', '.join(names)}).",
                param="tool_choice",
            )


@dataclass(frozen=True)
class ToolPlan:
    """How one request uses tools on one model (decided on the compute thread)."""

    offered: tuple[dict[str, Any], ...]  # what the chat template gets
    syntax: ToolSyntax
    forced: bool  # the prompt ends with ``syntax.start``
    parallel: bool

    def splitter(self) -> ToolCallSplitter:
        return ToolCallSplitter(
            self.syntax, list(self.offered), inside=self.forced, parallel=self.parallel
        )


class ToolRequest(Protocol):
    """The tool fields of a request (:class:`mlx_daemon.protocol.GenerationRequest`)."""

    @property
    def model(self) -> str: ...

    @property
    def tools(self) -> tuple[dict[str, Any], ...] | None: ...

    @property
    def tool_choice(self) -> ToolChoice: ...

    @property
    def parallel_tool_calls(self) -> bool: ...


def plan_tools(request: ToolRequest, tokenizer: Any) -> ToolPlan | None:
    """The plan for ``request`` on a model with this mlx-lm tokenizer (None: no tools).

    A 400 when tools are asked for but mlx-lm knows no tool-call format for the model's
    chat template: the model would see the tools but its calls could not be returned.
    """
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return None
    if not getattr(tokenizer, "has_tool_calling", False):
        raise bad_request(
            f"The model {request.model!r} cannot call tools here: mlx-lm knows no tool-call "
            "format for its chat template. Send the request without 'tools', or use a "
            "model whose template supports tools (e.g. Qwen2.5 Instruct).",
            param="tools",
            code="tools_unsupported",
        )
    offered = request.tools
    if isinstance(choice, NamedToolChoice):
        offered = tuple(t for t in offered if t["function"]["name"] == choice.function.name)
    syntax = ToolSyntax(
        tokenizer.tool_call_start, tokenizer.tool_call_end or "", tokenizer.tool_parser
    )
    return ToolPlan(offered, syntax, forced=choice != "auto", parallel=request.parallel_tool_calls)
