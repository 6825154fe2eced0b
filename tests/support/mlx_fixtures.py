"""pytest fixtures: two tiny offline MLX models and a real ``mlx_lm.server`` on model a.

Enable with ``pytest_plugins = ["tests.support.mlx_fixtures"]`` in the root conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.tiny_mlx import MlxLmServer, TinyModels, build_tiny_models

__all__ = ["mlx_server", "tiny_models"]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Two distinct tiny random-weight llama models ("tiny-a", "tiny-b"), built once."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny-mlx"))


@pytest.fixture(scope="session")
def mlx_server(tiny_models: TinyModels) -> Iterator[MlxLmServer]:
    """A running ``python -m mlx_lm.server`` serving ``tiny_models.a`` on 127.0.0.1."""
    with MlxLmServer(tiny_models.a) as server:
        yield server
