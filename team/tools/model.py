"""Typed data of the tools layer: what a tool is, a call of it, its result, and the state
of the server that holds it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "Outcome",
    "ServerState",
    "ServerStatus",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "arguments_hash",
    "text_hash",
]

ServerState = Literal["starting", "up", "down"]
Outcome = Literal[
    "ok", "error", "denied", "halted", "not_granted", "unknown_tool", "unavailable", "timeout",
]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool as offered to a model. ``name`` is qualified: ``server.tool``."""

    server: str
    tool: str
    description: str
    input_schema: Mapping[str, Any]
    read_only: bool

    @property
    def name(self) -> str:
        return f"{self.server}.{self.tool}"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run ``name`` (``server.tool``) with JSON ``arguments``.

    ``id`` is the model's call id (OpenAI ``tool_call_id``), echoed in the result."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def server(self) -> str:
        return self.name.partition(".")[0]

    @property
    def tool(self) -> str:
        return self.name.partition(".")[2]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a call produced, as untrusted *data* for the model (never instructions).

    ``content`` is already redacted and truncated (``truncated`` says so; the text then ends
    with a visible marker). ``is_error`` is true for every outcome but ``ok`` and for a tool
    that reported an error itself."""

    call_id: str
    name: str
    content: str
    is_error: bool = False
    truncated: bool = False
    outcome: Outcome = "ok"
    approved_by: str = ""


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One MCP server as ``/tools``, doctor and status show it."""

    name: str
    state: ServerState
    reason: str = ""
    tools: int = 0
    restarts: int = 0
    transport: Literal["stdio", "http", "in-process"] = "stdio"

    def line(self) -> str:
        detail = f"{self.tools} tools" if self.state == "up" else self.reason
        return f"{self.name}: {self.state}" + (f" ({detail})" if detail else "")


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A side-effect tool waiting for a human yes/no."""

    agent: str
    spec: ToolSpec
    call: ToolCall
    timeout: float

    def summary(self, max_chars: int = 300) -> str:
        args = json.dumps(dict(self.call.arguments), ensure_ascii=False, sort_keys=True)
        if len(args) > max_chars:
            args = args[:max_chars] + "…"
        return f"{self.agent} wants to run {self.spec.name} {args}"


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    approved: bool
    by: str = ""
    reason: str = ""


def arguments_hash(arguments: Mapping[str, Any]) -> str:
    canonical = json.dumps(dict(arguments), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
