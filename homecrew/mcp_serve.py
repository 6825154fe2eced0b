"""``homecrew mcp serve``: the team as an MCP server for any MCP client (Claude Desktop,
Claude Code, other agents), over stdio or streamable HTTP on loopback.

Tools: ``ask_agent(agent, prompt)``, ``team_status``, ``spend(period, by)``, ``alerts``,
``task_list``, ``task_show`` (read-only) and ``task_new`` (a side effect: it creates a
task under the rules, acting as ``team.operator`` or ``--as``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from homecrew.builtin_tools import READ_ONLY, add_read_tools, as_text, told
from homecrew.settings import Settings
from homecrew.team_ops import TeamOps
from inference.runtime import InferenceStack
from team.actors import resolve_actor
from team.engine import TeamEngine

__all__ = ["SIDE_EFFECT", "serving_team", "team_server"]

SIDE_EFFECT = ToolAnnotations(read_only_hint=False, destructive_hint=False,
                              idempotent_hint=False)


def team_server(ops: TeamOps, *, acting_as: str) -> MCPServer:
    engine = ops.engine
    server: MCPServer = MCPServer("homecrew", instructions=(
        "homecrew's agent team: ask an agent, read status, spend, alerts and tasks, "
        "create tasks."))

    @server.tool(annotations=READ_ONLY, description="ask one agent (e.g. nellie, chief, "
                 "gonzo) and get its reply; the conversation is kept per agent")
    async def ask_agent(agent: str, prompt: str) -> str:
        with told():
            name = engine.persona(agent).name
            handle = await engine.reply(f"mcp:{acting_as}:{name}", name, prompt,
                                        author=acting_as)
            record = await handle.result()
        if record.status != "complete":
            return f"{name}'s reply {record.status}: {record.reason or ''}\n{record.text}"
        return record.text

    add_read_tools(server, ops, status_name="team_status")

    @server.tool(annotations=SIDE_EFFECT, description="create a task (kind: feature, deploy, "
                 "script, research, ops…) owned by an agent; returns it")
    async def task_new(title: str, kind: str, owner: str,
                       areas: list[str] | None = None) -> str:
        with told():
            actor = resolve_actor(acting_as, engine.roster, ops.settings.team.admins)
            task = await engine.board.create(actor, kind=kind, owner=owner, title=title,
                                             areas=areas)
            return as_text(task.to_json())

    return server


@asynccontextmanager
async def serving_team(settings: Settings, *, acting_as: str | None = None
                       ) -> AsyncIterator[MCPServer]:
    """The team's MCP server with its stack and engine open."""
    async with InferenceStack.open(settings) as stack, \
            TeamEngine.open(stack, settings.team) as engine:
        ops = TeamOps(settings, stack, engine)
        yield team_server(ops, acting_as=acting_as or settings.team.operator)
