"""``homecrew mcp serve``: expose the team to MCP clients (stdio, or ``--http PORT`` on
127.0.0.1 only)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from homecrew.settings import Settings, load_settings

__all__ = ["register"]


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    mcp = sub.add_parser("mcp", help="Model Context Protocol: serve the team to MCP clients")
    actions = mcp.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve", parents=parents,
        help="serve ask_agent, team_status, spend, alerts and tasks over MCP (stdio default)")
    serve.add_argument("--http", type=_port, metavar="PORT",
                       help="streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio")
    serve.add_argument("--as", dest="actor", metavar="NAME",
                       help="who task_new and ask_agent act as (default: team.operator)")
    serve.set_defaults(handler=_serve)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    asyncio.run(_run(settings, args.http, args.actor))
    return 0


async def _run(settings: Settings, port: int | None, actor: str | None) -> None:
    from homecrew.mcp_serve import serving_team

    async with serving_team(settings, acting_as=actor) as server:
        if port is None:
            await server.run_stdio_async()
        else:
            await server.run_streamable_http_async(host="127.0.0.1", port=port)
