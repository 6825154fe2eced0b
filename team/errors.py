"""Errors of the team engine (all :class:`inference.errors.InferenceError`, so the CLI
reports them and exits 1)."""

from __future__ import annotations

from collections.abc import Sequence

from inference.errors import InferenceError

__all__ = ["Refused", "TeamError", "ToolError", "ToolUnavailable", "UnknownAgent", "UnknownTask"]


class TeamError(InferenceError):
    """Base class of the team engine's errors."""


class UnknownAgent(TeamError):
    pass


class UnknownTask(TeamError):
    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        super().__init__(f"no task {task_id}")


class Refused(TeamError):
    """A request the rules refuse; ``reasons`` says why, one line each."""

    def __init__(self, what: str, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(f"{what} refused: " + "; ".join(self.reasons))


class ToolError(TeamError):
    """A problem of the tools layer (MCP servers, grants)."""


class ToolUnavailable(ToolError):
    """An MCP server is starting, down or lost its connection; callers get a ToolResult."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"tool unavailable: server {server!r} is {reason}")
