"""A tiny stdio MCP server for tests, built with the SDK (run: ``python -m`` this module).

Tools (all read-only but ``write_note``): ``env`` (its own environment as JSON), ``pid``,
``echo`` (returns its text, e.g. a secret or ``@everyone``), ``hang`` (writes its pid to
the file named by ``pid_file``, then blocks — to be killed mid-call), ``header`` (an HTTP
request header), ``write_note`` (a side effect, no readOnlyHint: appends to the file named
by ``TINY_NOTES``). ``--http PORT`` serves streamable HTTP on 127.0.0.1, not stdio.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True)


def build() -> MCPServer:
    server = MCPServer("tiny")

    @server.tool(annotations=READ_ONLY, description="this server's environment variables")
    def env() -> str:
        return json.dumps(dict(os.environ), sort_keys=True)

    @server.tool(annotations=READ_ONLY, description="echo the text back")
    def echo(text: str) -> str:
        return text

    @server.tool(annotations=READ_ONLY, description="this server's process id")
    def pid() -> int:
        return os.getpid()

    @server.tool(annotations=READ_ONLY, description="write the pid to a file, then block")
    def hang(pid_file: str) -> str:
        Path(pid_file).write_text(str(os.getpid()))
        time.sleep(3600)
        return "never"

    @server.tool(annotations=READ_ONLY, description="an HTTP request header (HTTP only)")
    def header(name: str, ctx: Context) -> str:
        request = ctx.request_context.request
        return str(request.headers.get(name, "")) if request is not None else ""

    @server.tool(description="append a note to the notes file (a side effect)")
    def write_note(text: str) -> str:
        with Path(os.environ["TINY_NOTES"]).open("a") as notes:
            notes.write(text + "\n")
        return f"noted: {text}"

    return server


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":  # streamable HTTP on loopback
        build().run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        build().run()
