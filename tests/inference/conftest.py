"""Fixtures shared by the inference tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.support.standins import unanswered_port as _unanswered_port


@pytest_asyncio.fixture
async def unanswered_port() -> AsyncIterator[int]:
    """A loopback port whose connections never complete (its accept queue is full);
    skips the test where the kernel completes them anyway."""
    with _unanswered_port() as port:
        try:
            async with asyncio.timeout(0.3):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            pytest.skip("this kernel completes connections beyond a full accept queue")
        except TimeoutError:
            pass
        yield port
