"""The ``mlx_daemon:`` section of homecrew.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from homecrew.settings import load_settings
from inference.errors import ConfigError
from mlx_daemon.config import GIB, MlxDaemonSettings, load_daemon_settings

SECTION = """
mlx_daemon:
  port: ${MLX_PORT:-8011}
  api_key: ${MLX_DAEMON_API_KEY:-}
  memory_budget_gb: 40
  preload: [mlx-community/Qwen2.5-14B-Instruct-4bit]
  models:
    mlx-community/Qwen2.5-14B-Instruct-4bit:
    mlx-community/phi-4-4bit: {path: ~/models/phi-4, context_length: 16384, memory_gb: 8.5}
"""

CHAIN = """
nodes:
  mlx: {kind: openai, base_url: "http://mac-studio.local:8000/v1"}
models:
  mlx-qwen: {node: mlx, model: mlx-community/Qwen2.5-14B-Instruct-4bit}
routes:
  smart-agent: [mlx-qwen]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "homecrew.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_section_loads_with_defaults_and_interpolation(tmp_path: Path) -> None:
    path = _write(tmp_path, CHAIN + SECTION)
    settings = load_daemon_settings(path, environ={"MLX_DAEMON_API_KEY": "k3y"})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8011
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "k3y"
    assert settings.memory_budget_bytes == 40 * GIB
    assert settings.preload == ("mlx-community/Qwen2.5-14B-Instruct-4bit",)
    qwen = settings.models["mlx-community/Qwen2.5-14B-Instruct-4bit"]
    assert (qwen.path, qwen.context_length, qwen.memory_gb) == (None, None, None)
    phi = settings.models["mlx-community/phi-4-4bit"]
    assert (phi.path, phi.context_length, phi.memory_gb) == ("~/models/phi-4", 16384, 8.5)
    assert settings.log_path == Path("~/.openclaw/workspace/logs/mlx-api.log").expanduser()
    assert (settings.queue_size, settings.max_batch_size) == (16, 8)


def test_empty_key_env_means_no_auth(tmp_path: Path) -> None:
    settings = load_daemon_settings(_write(tmp_path, SECTION), environ={})
    assert settings.api_key is None


def test_the_whole_file_accepts_the_section(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, CHAIN + SECTION), environ={})
    assert settings.mlx_daemon is not None
    assert settings.mlx_daemon.port == 8011
    # the chain's upstream model name is a model id the daemon serves
    assert settings.models["mlx-qwen"].model in settings.mlx_daemon.models


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (CHAIN, "mlx_daemon: Field required"),
        ("mlx_daemon:\n  models: {}\n", "mlx_daemon.models"),
        ("mlx_daemon:\n  models: {a: {}}\n  preload: [b]\n", "preload: unknown model(s) 'b'"),
        ("mlx_daemon:\n  models: {a: {}}\n  prot: 1\n", "mlx_daemon.prot: unknown key"),
        ("mlx_daemon:\n  models: {a: {contxt: 5}}\n", "mlx_daemon.models.a.contxt: unknown key"),
        ("mlx_daemon:\n  models: {a: {}}\n  port: 99999\n", "mlx_daemon.port"),
        ("mlx_daemon:\n  models: {a: {}}\n  max_batch_size: 0\n", "mlx_daemon.max_batch_size"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_daemon_settings(path, environ={})
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_api_key_is_never_echoed(tmp_path: Path) -> None:
    path = _write(tmp_path, "mlx_daemon:\n  models: {a: {}}\n  api_key: [not-a-string-secret]\n")
    with pytest.raises(ConfigError) as caught:
        load_daemon_settings(path, environ={})
    assert "not-a-string-secret" not in str(caught.value)
    settings = MlxDaemonSettings.model_validate({"models": {"a": {}}, "api_key": "hidden-value"})
    assert "hidden-value" not in repr(settings)
