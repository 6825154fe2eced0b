"""Settings of the MLX API daemon: the ``mlx_daemon:`` section of ``homecrew.yaml``.

Example::

    mlx_daemon:
      host: 127.0.0.1                # 0.0.0.0 to serve the LAN (then set api_key)
      port: 8000
      api_key: ${MLX_DAEMON_API_KEY:-}   # empty -> no auth; else "Authorization: Bearer <key>"
      memory_budget_gb: 40           # GiB of weights kept resident; LRU eviction above it
      preload: [mlx-community/Qwen2.5-14B-Instruct-4bit]
      models:                        # model id (the request's "model") -> where it lives
        mlx-community/Qwen2.5-14B-Instruct-4bit: {}          # from the local HF cache
        mlx-community/phi-4-4bit: {path: ~/models/phi-4-4bit, context_length: 16384}
      queue_size: 16                 # requests waiting per model beyond the batch -> then 503
      max_batch_size: 8              # requests generated together per model
      max_request_bytes: 4194304     # larger bodies get 413 before they are read
      max_prompt_chars: 1000000      # longer prompts get 413 before they are tokenized
      log_file: ~/.openclaw/workspace/logs/mlx-api.log

A model's ``path`` is a local directory or a Hugging Face repo id resolved only from the
local HF cache (the daemon never downloads); it defaults to the model id itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from inference.configfile import load_model

__all__ = [
    "GIB",
    "DaemonConfigFile",
    "MlxDaemonSettings",
    "ModelSpec",
    "load_daemon_settings",
]

GIB = 1024**3
DEFAULT_LOG_FILE = Path("~/.openclaw/workspace/logs/mlx-api.log")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Section):
    """One model the daemon may serve."""

    path: str | None = Field(
        default=None,
        description="local model directory or HF repo id (local cache only); default: the id",
    )
    context_length: int | None = Field(
        default=None, gt=0, description="prompt + completion limit; default: from config.json"
    )
    memory_gb: float | None = Field(
        default=None, gt=0, description="resident size; default: size of the safetensors files"
    )

    @field_validator("path", mode="before")
    @classmethod
    def _blank_path(cls, value: object) -> object:
        return None if value == "" else value


class MlxDaemonSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port")
    api_key: SecretStr | None = None
    memory_budget_gb: float | None = Field(
        default=None, gt=0, description="GiB of resident models; unset: no limit"
    )
    preload: tuple[str, ...] = ()
    models: dict[str, ModelSpec] = Field(min_length=1)
    queue_size: int = Field(default=16, ge=0, description="waiting requests per model")
    max_batch_size: int = Field(default=8, ge=1, description="concurrent generations per model")
    prefill_batch_size: int = Field(default=8, ge=1)
    prefill_step_size: int = Field(default=2048, ge=16)
    default_max_tokens: int = Field(default=2048, ge=1)
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024,
        description="a request body larger than this gets 413 before it is read",
    )
    max_prompt_chars: int = Field(
        default=1_000_000, ge=1,
        description="characters of all messages together; a longer prompt gets 413 before "
        "it is tokenized (about 4 characters make a token: the default covers a 250k-token "
        "context)",
    )
    prompt_cache_size: int = Field(
        default=10, ge=0, description="KV caches of past prompts kept per model (0: off)"
    )
    prompt_cache_gb: float = Field(
        default=2.0, ge=0, description="GiB of prompt KV caches kept per model"
    )
    retry_after_seconds: int = Field(default=1, ge=0, description="Retry-After on 503")
    load_retry_seconds: float = Field(
        default=30.0, ge=0, description="a model that failed to load is retried after this"
    )
    log_file: Path = DEFAULT_LOG_FILE
    log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    log_backup_count: int = Field(default=5, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("models", mode="before")
    @classmethod
    def _null_specs(cls, value: object) -> object:
        if isinstance(value, Mapping):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _preload_known(self) -> MlxDaemonSettings:
        unknown = [m for m in self.preload if m not in self.models]
        if unknown:
            raise ValueError(
                f"preload: unknown model(s) {', '.join(map(repr, unknown))} "
                f"(models: {', '.join(self.models)})"
            )
        return self

    @property
    def memory_budget_bytes(self) -> int | None:
        return None if self.memory_budget_gb is None else int(self.memory_budget_gb * GIB)

    @property
    def log_path(self) -> Path:
        return self.log_file.expanduser()


class DaemonConfigFile(BaseModel):
    """Just the ``mlx_daemon`` section of the shared file; other sections are ignored."""

    model_config = ConfigDict(extra="ignore")
    mlx_daemon: MlxDaemonSettings


def load_daemon_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> MlxDaemonSettings:
    """Read ``homecrew.yaml`` (same lookup as every command) and return its daemon section.

    Raises :class:`inference.errors.ConfigError` naming the file and key path.
    """
    return load_model(DaemonConfigFile, path, environ=environ).mlx_daemon
