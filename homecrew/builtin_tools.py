"""The built-in ``homecrew`` MCP server: the team's own tools for its agents.

``status``, ``spend``, ``alerts``, ``checks`` (the watch's checks, run now), ``task_list``
and ``task_show`` — every one annotated read-only. It is an SDK :class:`MCPServer` run in
this process and reached over the SDK's in-memory transport, so its calls take exactly
the Toolbox path (grants, halt, approval, redaction, audit) of any other server.
:func:`open_tools` assembles the whole tools layer for an engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from homecrew.settings import Settings
from homecrew.team_ops import TeamOps
from inference.errors import InferenceError
from inference.runtime import InferenceStack
from team.engine import TeamEngine
from team.redaction import Redactor, secrets_of
from team.tools import BUILTIN_SERVER, McpServers, Toolbox

__all__ = ["READ_ONLY", "as_text", "builtin_server", "open_tools", "told"]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False)


def as_text(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, default=str)


@contextmanager
def told() -> Iterator[None]:
    """Turn the team's refusals and bad arguments into a tool error the caller reads
    (anything else stays a crash, its text kept on the server)."""
    try:
        yield
    except (InferenceError, ValueError) as exc:
        raise ToolError(str(exc)) from None


def add_read_tools(server: MCPServer, ops: TeamOps, *, status_name: str) -> None:
    """The team's read-only tools, shared by the built-in server and ``homecrew mcp serve``
    (which names status ``team_status``)."""

    @server.tool(name=status_name, annotations=READ_ONLY,
                 description="nodes, routes, halt and tool servers")
    def status() -> str:
        return as_text(ops.status())

    @server.tool(annotations=READ_ONLY,
                 description="spend over a period (30m, 24h, 7d) grouped by agent, route, "
                             "node, model or day")
    async def spend(period: str = "24h", by: str = "agent") -> str:
        with told():
            return as_text(await ops.spend(period, by))

    @server.tool(annotations=READ_ONLY, description="the watch's incidents (open ones by default)")
    async def alerts(only_open: bool = True, limit: int = 20) -> str:
        with told():
            return as_text(await ops.alerts(only_open=only_open, limit=limit))

    @server.tool(annotations=READ_ONLY, description="tasks, optionally by state or owner")
    async def task_list(state: str | None = None, owner: str | None = None) -> str:
        with told():
            return as_text(await ops.task_list(state, owner))

    @server.tool(annotations=READ_ONLY, description="one task with its artifacts and sign-offs")
    async def task_show(task_id: int) -> str:
        with told():
            return as_text(await ops.task_show(task_id))


def builtin_server(ops: TeamOps) -> MCPServer:
    server: MCPServer = MCPServer(BUILTIN_SERVER, instructions="homecrew's own team tools")
    add_read_tools(server, ops, status_name="status")

    @server.tool(annotations=READ_ONLY, description="run the watch's checks now (disk, "
                 "nodes, services…) and report each")
    async def checks() -> str:
        with told():
            return as_text(await ops.checks())

    return server


@asynccontextmanager
async def open_tools(settings: Settings, stack: InferenceStack, engine: TeamEngine, *,
                     redactor: Redactor | None = None,
                     only: Collection[str] | None = None) -> AsyncIterator[Toolbox]:
    """Start the configured MCP servers (or ``only`` those named) and the built-in one (in
    the background) and yield the :class:`Toolbox` of ``engine``'s team; stops the servers
    on exit."""
    ops = TeamOps(settings, stack, engine)
    configured = {name: config for name, config in settings.mcp_servers.items()
                  if only is None or name in only}
    servers = McpServers(configured, in_process={BUILTIN_SERVER: builtin_server(ops)},
                         call_timeout=settings.team.tool_timeout)
    ops.servers = servers
    redactor = redactor or Redactor(secrets_of(settings, os.environ))
    board = engine.board
    async with servers:
        yield Toolbox(servers, engine.roster, settings.team, db=board.db,
                      halt=board.halt_switch, policy_version=board.policy.version,
                      redactor=redactor)
