"""The one settings object of a homecrew process: every section of ``homecrew.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.config import DiscordSettings
from inference.config import InferenceSettings
from inference.configfile import load_model
from mlx_daemon.config import MlxDaemonSettings
from team.config import TeamSettings
from watch.settings import WatchSettings

__all__ = ["Settings", "load_settings"]


class Settings(InferenceSettings):
    """Root settings; inference sections plus each component's own section."""

    team: TeamSettings = TeamSettings()
    discord: DiscordSettings = DiscordSettings()
    mlx_daemon: MlxDaemonSettings | None = None
    watch: WatchSettings = WatchSettings()


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    settings = load_model(Settings, path, environ=environ)
    return settings.model_copy(update={"data_dir": settings.data_dir.expanduser()})
