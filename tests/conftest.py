"""Test-wide set-up: shared fixtures and the loopback-only network guard."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.support.network_guard import loopback_only

pytest_plugins = [
    "tests.support.mlx_fixtures",
    "tests.support.services",
    "tests.support.discord_standin.fixtures",
]


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    """Fail any test that tries to reach an address outside 127.0.0.0/8 or ::1."""
    with loopback_only():
        yield


@pytest.fixture(autouse=True)
def _fresh_litellm_clients() -> Iterator[None]:
    """LiteLLM caches HTTP clients process-wide; one made on a finished test's event loop
    would hang the next test that picks it up. Forget them after every test."""
    yield
    litellm = sys.modules.get("litellm")
    if litellm is not None:
        litellm.in_memory_llm_clients_cache.flush_cache()
