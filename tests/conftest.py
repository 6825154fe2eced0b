"""Test-wide set-up: shared fixtures and the loopback-only network guard."""

from __future__ import annotations

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
