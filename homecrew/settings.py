"""The one settings object of a homecrew process: every section of ``homecrew.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from inference.config import InferenceSettings
from inference.configfile import load_model
from mlx_daemon.config import MlxDaemonSettings

__all__ = ["Settings", "load_settings"]


class Settings(InferenceSettings):
    """Root settings; inference sections plus each component's own section."""

    mlx_daemon: MlxDaemonSettings | None = None


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    settings = load_model(Settings, path, environ=environ)
    return settings.model_copy(update={"data_dir": settings.data_dir.expanduser()})
