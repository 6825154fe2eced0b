"""The one settings object of a homecrew process: every section of ``homecrew.yaml``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, field_validator

from bot.config import DiscordSettings
from gateway.config import GatewaySettings
from inference.config import InferenceSettings
from inference.configfile import load_model
from mlx_daemon.config import MlxDaemonSettings
from team.config import TeamSettings
from team.tools.config import BUILTIN_SERVER, SERVER_NAME_PATTERN, McpServerConfig
from watch.settings import WatchSettings

__all__ = ["Settings", "load_settings"]


class Settings(InferenceSettings):
    """Root settings; inference sections plus each component's own section."""

    team: TeamSettings = TeamSettings()
    discord: DiscordSettings = DiscordSettings()
    mlx_daemon: MlxDaemonSettings | None = None
    watch: WatchSettings = WatchSettings()
    gateway: GatewaySettings = GatewaySettings()
    mcp_servers: dict[str, McpServerConfig] = Field(
        default_factory=dict, description="MCP servers whose tools agents may be granted"
    )

    @field_validator("mcp_servers")
    @classmethod
    def _server_names(cls, servers: dict[str, McpServerConfig]) -> dict[str, McpServerConfig]:
        for name in servers:
            if name == BUILTIN_SERVER:
                raise ValueError(f"{name!r} is the built-in server; pick another name")
            if not re.match(SERVER_NAME_PATTERN, name):
                raise ValueError(f"server name {name!r}: use lower-case letters, digits, - and _")
        return servers


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    settings = load_model(Settings, path, environ=environ)
    return settings.model_copy(update={"data_dir": settings.data_dir.expanduser()})
