""":class:`McpServers`: every MCP server of the set-up, started once and kept running.

Each server has one owned supervisor task that connects (stdio process, streamable HTTP
session or in-process server), lists the tools, then keeps the session until it breaks
(a failed call, a failed periodic tool listing, the process gone) and reconnects with exponential
back-off. Starting never blocks the caller: :meth:`McpServers.start` returns at once and
:meth:`status` says ``starting`` until the server is up. A call to a server that is not up
returns a :class:`ToolResult` with outcome ``unavailable`` — never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import anyio
import mcp.types as mt
from mcp import Client
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from team.tools.config import McpServerConfig
from team.tools.connect import ClientFactory, config_client, in_process_client
from team.tools.model import ServerState, ServerStatus, ToolResult, ToolSpec

__all__ = ["McpServers", "result_text"]

log = logging.getLogger(__name__)
_CONNECTION_LOST = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream,
                    OSError, EOFError)


@dataclass(eq=False)
class _Server:
    name: str
    make_client: ClientFactory
    config: McpServerConfig | None
    transport: Literal["stdio", "http", "in-process"]
    state: ServerState = "starting"
    reason: str = "starting"
    client: Client | None = None
    specs: tuple[ToolSpec, ...] = ()
    restarts: int = 0
    up: asyncio.Event = field(default_factory=asyncio.Event)
    broken: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # up, or failed once
    task: asyncio.Task[None] | None = None

    def status(self) -> ServerStatus:
        return ServerStatus(self.name, self.state, self.reason, len(self.specs), self.restarts,
                            self.transport)


class McpServers:
    """The MCP servers: lifecycle, tool listings, calls and status.

    ``in_process`` maps names to SDK servers run inside this process (the built-in
    ``homecrew`` server). ``call_timeout`` is the default per-call limit (a server's
    ``timeout`` overrides it); ``start_timeout`` bounds a connect plus its tool listing."""

    def __init__(
        self,
        configs: Mapping[str, McpServerConfig],
        *,
        in_process: Mapping[str, Server[Any] | MCPServer[Any]] | None = None,
        call_timeout: float = 30.0,
        start_timeout: float = 30.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        health_interval: float = 15.0,
        errlog: TextIO | None = None,
    ) -> None:
        self._servers: dict[str, _Server] = {}
        for name, config in configs.items():
            self._servers[name] = _Server(name, config_client(config, errlog=errlog), config,
                                          config.transport)
        for name, server in (in_process or {}).items():
            self._servers[name] = _Server(name, in_process_client(server), None, "in-process")
        self._call_timeout = call_timeout
        self._start_timeout = start_timeout
        self._backoff = backoff
        self._health_interval = health_interval

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start every server in the background (idempotent; returns at once)."""
        for server in self._servers.values():
            if server.task is None:
                server.task = asyncio.create_task(self._supervise(server),
                                                  name=f"mcp-server-{server.name}")

    async def aclose(self) -> None:
        tasks = [s.task for s in self._servers.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers.values():
            server.task = None
            server.state, server.reason = "down", "stopped"

    async def __aenter__(self) -> McpServers:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- reading ------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._servers)

    def config(self, server: str) -> McpServerConfig | None:
        return self._servers[server].config if server in self._servers else None

    def status(self) -> dict[str, ServerStatus]:
        return {name: s.status() for name, s in self._servers.items()}

    def tools(self, server: str) -> tuple[ToolSpec, ...]:
        """The server's tools as last listed (empty before it first comes up)."""
        entry = self._servers.get(server)
        return entry.specs if entry is not None else ()

    async def wait_up(self, *servers: str, within: float | None = None) -> bool:
        """Wait until the named servers (default: all) are up; False on timeout."""
        wanted = [self._servers[n] for n in servers] if servers else list(self._servers.values())
        try:
            async with asyncio.timeout(within):
                for server in wanted:
                    await server.up.wait()
        except TimeoutError:
            return False
        return True

    async def wait_settled(self, *, within: float | None = None) -> bool:
        """Wait until every server is up or has failed to start once; False on timeout."""
        try:
            async with asyncio.timeout(within):
                for server in self._servers.values():
                    await server.settled.wait()
        except TimeoutError:
            return False
        return True

    # -- calling ------------------------------------------------------------------------------
    async def call(self, server: str, tool: str, arguments: Mapping[str, Any], *,
                   call_id: str = "", limit_s: float | None = None) -> ToolResult:
        """Run one tool; every failure is a result (``unavailable``, ``timeout``, ``error``)."""
        name = f"{server}.{tool}"
        entry = self._servers.get(server)
        client = entry.client if entry is not None else None
        if entry is None or client is None or entry.state != "up":
            why = "not configured" if entry is None else entry.reason
            return ToolResult(call_id, name, f"tool unavailable: {server} is {why}", True,
                              outcome="unavailable")
        limit = limit_s or (entry.config.timeout if entry.config else None) \
            or self._call_timeout
        try:
            async with asyncio.timeout(limit):
                result = await client.call_tool(tool, dict(arguments))
        except TimeoutError:
            return ToolResult(call_id, name, f"{name} timed out after {limit:g} s", True,
                              outcome="timeout")
        except MCPError as exc:
            if exc.code == mt.CONNECTION_CLOSED:
                return self._lost(entry, call_id, name, "its connection closed mid-call")
            return ToolResult(call_id, name, f"{name} failed: {exc.message}", True,
                              outcome="error")
        except _CONNECTION_LOST as exc:
            return self._lost(entry, call_id, name, f"its connection was lost "
                                                    f"({type(exc).__name__})")
        return ToolResult(call_id, name, result_text(result), result.is_error,
                          outcome="error" if result.is_error else "ok")

    def _lost(self, entry: _Server, call_id: str, name: str, reason: str) -> ToolResult:
        self._mark_broken(entry, reason)
        return ToolResult(call_id, name, f"tool unavailable: {entry.name} {reason}; "
                          "restarting it", True, outcome="unavailable")

    def _mark_broken(self, entry: _Server, reason: str) -> None:
        if entry.state == "up":
            entry.state, entry.reason = "down", reason
            entry.up.clear()
        entry.broken.set()

    # -- supervision --------------------------------------------------------------------------
    async def _supervise(self, entry: _Server) -> None:
        delay = self._backoff[0]
        while True:
            entry.state, entry.broken = "starting", asyncio.Event()
            try:
                await self._session(entry)
                delay = self._backoff[0]
            except Exception as exc:  # any start or session failure: report, back off, retry
                entry.reason = _describe(exc)
                log.warning("MCP server %s failed: %s", entry.name, entry.reason)
            finally:
                entry.client = None
                entry.up.clear()
            entry.state = "down"
            entry.restarts += 1
            entry.settled.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _session(self, entry: _Server) -> None:
        async with contextlib.AsyncExitStack() as stack:
            entry.reason = "starting"
            async with asyncio.timeout(self._start_timeout):
                client = await stack.enter_async_context(entry.make_client())
                entry.specs = await _list_specs(client, entry)
            entry.client, entry.state, entry.reason = client, "up", ""
            entry.up.set()
            entry.settled.set()
            await self._watch(entry, client)

    async def _watch(self, entry: _Server, client: Client) -> None:
        """Return when the session breaks: a failed call, or a failed health check (a fresh
        tool listing every ``health_interval`` seconds, which also picks up new tools)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._health_interval):
                    await entry.broken.wait()
                    return
            try:
                async with asyncio.timeout(self._start_timeout):
                    entry.specs = await _list_specs(client, entry)
            except (TimeoutError, MCPError, *_CONNECTION_LOST) as exc:
                self._mark_broken(entry, f"health check failed ({_describe(exc)})")
                return


async def _list_specs(client: Client, entry: _Server) -> tuple[ToolSpec, ...]:
    specs: list[ToolSpec] = []
    cursor: str | None = None
    while True:
        listing = await client.list_tools(cursor=cursor)
        for tool in listing.tools:
            hint = tool.annotations.read_only_hint if tool.annotations else None
            side_effects = (entry.config.needs_approval(tool.name, hint) if entry.config
                            else hint is not True)
            specs.append(ToolSpec(entry.name, tool.name, tool.description or "",
                                  dict(tool.input_schema), read_only=not side_effects))
        cursor = listing.next_cursor
        if not cursor:
            return tuple(specs)


def result_text(result: mt.CallToolResult) -> str:
    """The text of a tool result: its text parts, else its structured content as JSON."""
    parts: list[str] = []
    for item in result.content:
        if isinstance(item, mt.TextContent):
            parts.append(item.text)
        elif isinstance(item, mt.EmbeddedResource) and isinstance(
                item.resource, mt.TextResourceContents):
            parts.append(item.resource.text)
        else:
            parts.append(f"[{item.type} content omitted]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "did not answer in time"
    if isinstance(exc, MCPError):
        return f"MCP error {exc.code}: {exc.message}"[:200]
    if isinstance(exc, FileNotFoundError):
        return "command not found"
    return type(exc).__name__
