"""Fixtures of the HTTP client tests: raw servers and a pool."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest

from inference.http import HttpPool
from tests.support.raw_http import Handler, Serve, Server


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[Server] = []

    async def start(handler: Handler, *, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler)
        await server.start(tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def pool() -> AsyncIterator[HttpPool]:
    client = HttpPool()
    yield client
    await client.aclose()

