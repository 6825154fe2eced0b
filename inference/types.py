"""Typed data that crosses the inference package's boundary."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "INTERRUPTED_MARKER",
    "BadArguments",
    "ChatRequest",
    "EmbedRequest",
    "EmbedResult",
    "Message",
    "ModelToolCall",
    "ReplyDone",
    "Role",
    "StreamEvent",
    "TextDelta",
    "ToolChoice",
    "ToolFunction",
]

Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = Literal["auto", "none", "required"]
INTERRUPTED_MARKER = "\n\n[reply interrupted: {reason}]"


@dataclass(frozen=True, slots=True)
class ToolFunction:
    """A tool offered to the model, as OpenAI's function schema: ``name`` (letters,
    digits, ``_`` and ``-``), a ``description`` and ``parameters`` (a JSON schema)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})

    def openai(self) -> dict[str, Any]:
        """The ``tools`` entry: ``{"type": "function", "function": {…}}``."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": dict(self.parameters)}}


@dataclass(frozen=True, slots=True)
class BadArguments:
    """A tool call whose arguments are not a JSON object: what the loop tells the model."""

    reason: str


@dataclass(frozen=True, slots=True)
class ModelToolCall:
    """One complete tool call of the model: its ``id`` (synthesised when the node gives
    none), the function ``name`` and the ``arguments`` as the JSON text the model wrote
    (possibly malformed: see :meth:`decoded`)."""

    id: str
    name: str
    arguments: str = "{}"

    def decoded(self) -> dict[str, Any] | BadArguments:
        """The arguments as an object, or why they are not one (never raises)."""
        text = self.arguments.strip() or "{}"
        try:
            value = json.loads(text)
        except ValueError as exc:
            return BadArguments(f"the arguments are not valid JSON ({exc})")
        if not isinstance(value, dict):
            return BadArguments(f"the arguments are a JSON {type(value).__name__}, "
                                "not an object")
        return value


@dataclass(frozen=True, slots=True)
class Message:
    """A chat message. An assistant message may carry ``tool_calls`` (``content`` may
    then be empty); a ``tool`` message is the result of the call ``tool_call_id`` (of the
    function ``name``): untrusted data for the model, never instructions."""

    role: Role
    content: str
    tool_calls: tuple[ModelToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def material(self) -> list[Any]:
        """Everything about the message that changes the answer (for the cache key)."""
        if not self.tool_calls and self.tool_call_id is None:
            return [self.role, self.content]
        return [self.role, self.content, [[c.id, c.name, c.arguments] for c in self.tool_calls],
                self.tool_call_id, self.name]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat call on a route. ``agent`` is carried into the ledger.

    ``stream=True`` commits text to the caller from the first token on; ``stream=False``
    commits nothing until a step has finished, so any failure (even mid-reply, or the
    ``total`` timeout) falls through to the next step.
    """

    route: str
    messages: Sequence[Message]
    agent: str | None = None
    key_name: str | None = None  # the gateway API key that made the call (ledger, budgets)
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: Sequence[str] = ()
    seed: int | None = None
    response_format: Mapping[str, Any] | None = None
    tools: Sequence[ToolFunction] = ()
    tool_choice: ToolChoice | None = None
    use_cache: bool = True
    stream: bool = True
    # a failure after the first token appends INTERRUPTED_MARKER to the text (chat front
    # ends); False leaves the text as it was (an API client gets ``ReplyDone.interrupted``)
    mark_interruptions: bool = True

    def cache_material(self) -> str:
        """Everything that changes the answer, canonically serialised."""
        return json.dumps(
            {
                "route": self.route,
                "messages": [m.material() for m in self.messages],
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "top_p": self.top_p,
                "stop": list(self.stop),
                "seed": self.seed,
                "response_format": self.response_format,
                "tools": [t.openai() for t in self.tools],
                "tool_choice": self.tool_choice,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The final record of a reply: who served it, what it cost, how long it took."""

    route: str
    node: str
    model: str
    upstream_model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    ttft_s: float | None
    fallback_depth: int
    cached: bool = False
    fell_back_from: tuple[str, ...] = ()
    interrupted: str | None = None
    finish_reason: str | None = None
    notices: tuple[str, ...] = ()  # things the user should be told (e.g. a budget reached)
    text: str = field(default="", repr=False)
    hedged: bool = False  # a hedge ran: another step was started beside a slow one
    # the calls the model made (``finish_reason`` is then "tool_calls"): run them, append
    # the assistant message and the results, and ask again
    tool_calls: tuple[ModelToolCall, ...] = ()


StreamEvent = TextDelta | ModelToolCall | ReplyDone


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """Embed ``inputs`` on a route whose steps are embedding models (``embedding: true``).
    ``key_name`` and ``agent`` are carried into the ledger."""

    route: str
    inputs: Sequence[str]
    agent: str | None = None
    key_name: str | None = None
    dimensions: int | None = None


@dataclass(frozen=True, slots=True)
class EmbedResult:
    """One vector per input, in input order, and who made them."""

    route: str
    node: str
    model: str
    upstream_model: str
    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int
    cost_usd: float
    latency_s: float
    fallback_depth: int
    fell_back_from: tuple[str, ...] = ()
