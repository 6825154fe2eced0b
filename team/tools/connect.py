"""Build an SDK :class:`mcp.Client` for one server: stdio, streamable HTTP or in-process.

Stdio servers get a minimal environment — the SDK's safe defaults (PATH, HOME, USER,
SHELL, TERM, LOGNAME) plus exactly the variables their config names — never homecrew's
own environment, so API keys and tokens do not leak into a third-party process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TextIO

from mcp import Client
from mcp.client._memory import InMemoryTransport
from mcp.client._transport import TransportStreams
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared._httpx_utils import create_mcp_http_client

from team.tools.config import McpServerConfig

__all__ = ["ClientFactory", "config_client", "in_process_client", "stdio_parameters"]

ClientFactory = Callable[[], Client]


def stdio_parameters(config: McpServerConfig) -> StdioServerParameters:
    assert config.command is not None
    return StdioServerParameters(
        command=config.command, args=list(config.args),
        env={k: v.get_secret_value() for k, v in config.env.items()},
        cwd=config.cwd,
    )


@asynccontextmanager
async def _http_transport(config: McpServerConfig) -> AsyncIterator[TransportStreams]:
    assert config.url is not None
    headers = {k: v.get_secret_value() for k, v in config.headers.items()}
    async with create_mcp_http_client(headers=headers) as http, \
            streamable_http_client(config.url, http_client=http) as streams:
        yield streams


def config_client(config: McpServerConfig, *, errlog: TextIO | None = None) -> ClientFactory:
    """A factory of fresh clients (one per (re)start) for a configured server."""
    def make() -> Client:
        if config.transport == "http":
            return Client(_http_transport(config), cache=None)
        params = stdio_parameters(config)
        transport = stdio_client(params, errlog=errlog) if errlog else stdio_client(params)
        return Client(transport, cache=None)

    return make


def in_process_client(server: Server[Any] | MCPServer[Any]) -> ClientFactory:
    """A factory for an in-process server, over the SDK's in-memory transport (JSON-RPC
    framed like any other server, so calls take exactly the path of a remote one)."""
    return lambda: Client(InMemoryTransport(server), cache=None)
