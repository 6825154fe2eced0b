"""Fixtures of the daemon tests (the tiny models come from ``tests.support.mlx_fixtures``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.mlx_daemon.support import BROKEN_SCRIPT, WEATHER_SCRIPT
from tests.support.tiny_mlx import TinyModels, build_tiny_model
from tests.support.tiny_mlx_tools import build_tool_model


@pytest.fixture(scope="session")
def long_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with an 8k context: long generations for overload/disconnect tests."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-long") / "tiny-long", seed=2,
                            context_length=8192)  # fmt: skip


@pytest.fixture(scope="session")
def third_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-c") / "tiny-c", seed=3)


@pytest.fixture
def broken_model(tmp_path: Path, tiny_models: TinyModels) -> Path:
    """A copy of model a whose weights file is garbage."""
    broken = tmp_path / "broken"
    shutil.copytree(tiny_models.a, broken)
    (broken / "model.safetensors").write_bytes(b"this is not a safetensors file")
    return broken


@pytest.fixture
def models(tiny_models: TinyModels) -> dict[str, Path]:
    return {"tiny-a": tiny_models.a, "tiny-b": tiny_models.b}


@pytest.fixture(scope="session")
def tool_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ "tiny-tools" always answers WEATHER_SCRIPT; "tiny-badtools" always BROKEN_SCRIPT."""
    root = tmp_path_factory.mktemp("tiny-tools")
    return {
        "tiny-tools": build_tool_model(root / "tiny-tools", WEATHER_SCRIPT),
        "tiny-badtools": build_tool_model(root / "tiny-badtools", BROKEN_SCRIPT),
    }
