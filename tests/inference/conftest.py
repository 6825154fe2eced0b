"""Fixtures shared by the inference tests."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from inference.native import NativeCaller
from inference.node_http import NodeHttp
from tests.support.raw_http import Handler, Serve, Server
from tests.support.standins import unanswered_port as _unanswered_port
from tests.support.tls import Certificate, self_signed


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


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts raw HTTP/1.1 servers (:mod:`tests.support.raw_http`); closes them after."""
    servers: list[Server] = []

    async def start(handler: Handler, *, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler)
        await server.start(tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for localhost and 127.0.0.1."""
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def other_host_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for another host name only."""
    return self_signed(tmp_path_factory.mktemp("tls-other"), names="DNS:other.example",
                       common_name="other.example")


@pytest_asyncio.fixture
async def http() -> AsyncIterator[NodeHttp]:
    """The process's node HTTP client, as the runtime opens it."""
    async with NodeHttp.open() as opened:
        yield opened


@pytest.fixture
def caller(http: NodeHttp) -> NativeCaller:
    return NativeCaller(http)
