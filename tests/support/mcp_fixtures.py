"""Reusable pieces for MCP tests: a loopback web page (with robots.txt) for
``mcp-server-fetch``, a temporary git repository for ``mcp-server-git``, the tiny stdio
server of :mod:`tests.support.mcp_tiny_server`, and a team store to audit into."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from inference.store import Database, open_database
from team.halt import HaltSwitch
from team.store import migrate
from team.tools.config import McpServerConfig
from tests.test_support_paths import REPO

__all__ = [
    "PAGE_TEXT",
    "VENV_BIN",
    "git_repo",
    "loopback_page",
    "team_db",
    "tiny_server_config",
]

VENV_BIN = Path(sys.executable).parent
PAGE_TEXT = "The homelab's disk is 42% full according to the loopback page."


@asynccontextmanager
async def loopback_page() -> AsyncIterator[str]:
    """Serve ``/page`` (HTML) and a permissive ``/robots.txt``; yields the page URL."""
    async def page(_: web.Request) -> web.Response:
        html = f"<html><head><title>Disk</title></head><body><p>{PAGE_TEXT}</p></body></html>"
        return web.Response(text=html, content_type="text/html")

    async def robots(_: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nAllow: /\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/robots.txt", robots)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/page"
    finally:
        await runner.cleanup()


def git_repo(path: Path) -> Path:
    """A git repository with one commit of ``README.md``."""
    path.mkdir(parents=True, exist_ok=True)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "PATH": "/usr/bin:/bin", "HOME": str(path)}
    (path / "README.md").write_text("homelab notes\n")
    for args in (["init", "-q", "-b", "main"], ["add", "README.md"],
                 ["commit", "-q", "-m", "first commit"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return path


def tiny_server_config(notes: Path | None = None, **extra: object) -> McpServerConfig:
    """The tiny stdio server; ``notes`` is where ``write_note`` writes."""
    env = {"TINY_NOTES": str(notes)} if notes is not None else {}
    root = REPO
    return McpServerConfig.model_validate({
        "command": sys.executable, "args": ["-m", "tests.support.mcp_tiny_server"],
        "env": {**env, "PYTHONPATH": str(root)}, "cwd": str(root), **extra,
    })


@asynccontextmanager
async def team_db(data_dir: Path) -> AsyncIterator[tuple[Database, HaltSwitch]]:
    """The team's store (SQLite in ``data_dir``) and its halt switch."""
    db = await open_database(None, data_dir)
    try:
        await migrate(db)
        halt = HaltSwitch(db)
        await halt.refresh()
        yield db, halt
    finally:
        await db.close()
