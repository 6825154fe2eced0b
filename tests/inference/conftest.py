"""Fixtures shared by the inference tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.standins import unanswered_port as _unanswered_port


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose connections never complete (its accept queue is full)."""
    with _unanswered_port() as port:
        yield port
