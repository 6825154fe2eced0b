"""The ``mcp_servers:`` section of ``homecrew.yaml``: one entry per MCP server.

A stdio server is ``{command, args, env, cwd}``; a streamable-HTTP one is ``{url, headers}``.
``env`` and ``headers`` values may use ``${VAR}`` (interpolated when the file is loaded) and
are kept as secrets: never shown in errors, status or logs. ``side_effects`` overrides the
server's own ``readOnlyHint``: ``true`` (every tool needs approval), ``false`` (none does)
or a list of the tool names that do (the others follow their hint).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["BUILTIN_SERVER", "SERVER_NAME_PATTERN", "McpServerConfig"]

BUILTIN_SERVER = "homecrew"
SERVER_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


class McpServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = Field(default=None, min_length=1, description="stdio: the program")
    args: tuple[str, ...] = Field(default=(), description="stdio: its arguments")
    env: dict[str, SecretStr] = Field(
        default_factory=dict, description="stdio: variables it gets beyond PATH and HOME"
    )
    cwd: Path | None = Field(default=None, description="stdio: working directory")
    url: str | None = Field(default=None, description="streamable HTTP endpoint")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="HTTP headers")
    side_effects: bool | tuple[str, ...] | None = Field(
        default=None, description="override readOnlyHint: true, false or tool names"
    )
    timeout: float | None = Field(default=None, gt=0, description="seconds per call")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        return url

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (streamable HTTP)")
        if self.url is not None and (self.args or self.env or self.cwd is not None):
            raise ValueError("args, env and cwd are for stdio servers (command)")
        if self.command is not None and self.headers:
            raise ValueError("headers are for HTTP servers (url)")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    def needs_approval(self, tool: str, read_only_hint: bool | None) -> bool:
        """Whether ``tool`` has side effects: config first, then the server's hint."""
        if isinstance(self.side_effects, bool):
            return self.side_effects
        if self.side_effects is not None and tool in self.side_effects:
            return True
        return read_only_hint is not True
