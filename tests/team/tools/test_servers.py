"""McpServers against real MCP servers from PyPI and the tiny stdio server: listing,
calls, the minimal environment, a server killed mid-call and restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from team.tools import McpServerConfig, McpServers
from tests.support.mcp_fixtures import (
    PAGE_TEXT,
    VENV_BIN,
    git_repo,
    loopback_page,
    tiny_server_config,
)
from tests.support.processes import free_port
from tests.support.waiting import wait_until
from tests.test_support_paths import REPO


def _stdio(command: str, *args: str) -> McpServerConfig:
    return McpServerConfig(command=str(VENV_BIN / command), args=args)


async def test_fetch_server_fetches_a_loopback_page() -> None:
    async with loopback_page() as url, McpServers(
            {"fetch": _stdio("mcp-server-fetch", "--allow-private-ips")}) as servers:
        assert await servers.wait_up(within=60)
        assert servers.status()["fetch"].state == "up"
        result = await servers.call("fetch", "fetch", {"url": url}, call_id="c1")
    assert result.outcome == "ok", result.content
    assert PAGE_TEXT in result.content
    assert result.call_id == "c1" and result.name == "fetch.fetch"


async def test_time_server_tools_are_read_only_and_answer() -> None:
    async with McpServers({"time": _stdio("mcp-server-time")}) as servers:
        assert await servers.wait_up(within=60)
        specs = {s.name: s for s in servers.tools("time")}
        result = await servers.call("time", "get_current_time", {"timezone": "UTC"})
    assert specs["time.get_current_time"].read_only
    assert "timezone" in specs["time.get_current_time"].input_schema["properties"]
    assert json.loads(result.content)["timezone"] == "UTC"


async def test_git_server_reads_a_temporary_repository(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    config = _stdio("mcp-server-git", "--repository", str(repo))
    async with McpServers({"git": config}) as servers:
        assert await servers.wait_up(within=60)
        result = await servers.call("git", "git_log", {"repo_path": str(repo)})
    assert result.outcome == "ok", result.content
    assert "first commit" in result.content


async def test_side_effects_override_marks_tools_for_approval() -> None:
    config = _stdio("mcp-server-time").model_copy(update={"side_effects": ("convert_time",)})
    async with McpServers({"time": config}) as servers:
        assert await servers.wait_up(within=60)
        read_only = {s.tool: s.read_only for s in servers.tools("time")}
    assert read_only == {"get_current_time": True, "convert_time": False}


async def test_stdio_server_gets_a_minimal_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
    monkeypatch.setenv("DISCORD_TOKEN", "discord-token-must-not-leak")
    async with McpServers({"tiny": tiny_server_config()}) as servers:
        assert await servers.wait_up(within=60)
        env = json.loads((await servers.call("tiny", "env", {})).content)
    assert "ANTHROPIC_API_KEY" not in env and "DISCORD_TOKEN" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert "PYTHONPATH" in env  # named in its config


async def test_unstartable_server_is_down_and_calls_say_unavailable() -> None:
    config = McpServerConfig(command="/nonexistent/mcp-server")
    async with McpServers({"ghost": config}, backoff=(0.05, 0.1)) as servers:
        await wait_until(lambda: servers.status()["ghost"].restarts > 0, what="a failed start")
        status = servers.status()["ghost"]
        result = await servers.call("ghost", "anything", {})
    assert status.state in ("down", "starting") and status.reason
    assert result.is_error and result.outcome == "unavailable"
    assert "tool unavailable" in result.content


async def test_server_killed_mid_call_errors_then_restarts(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    async with McpServers({"tiny": tiny_server_config()}, backoff=(0.05, 0.2)) as servers:
        assert await servers.wait_up(within=60)
        call = asyncio.create_task(servers.call("tiny", "hang", {"pid_file": str(pid_file)},
                                                limit_s=60))
        await wait_until(pid_file.exists, what="the tool to start")
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        result = await call
        assert result.is_error and result.outcome == "unavailable"
        await wait_until(lambda: servers.status()["tiny"].restarts >= 1, what="a restart")
        assert await servers.wait_up(within=60)
        again = await servers.call("tiny", "echo", {"text": "back"})
    assert again.outcome == "ok" and again.content == "back"


async def test_server_crashed_while_idle_is_noticed_and_restarted() -> None:
    async with McpServers({"tiny": tiny_server_config()}, backoff=(0.05, 0.2),
                          health_interval=0.1) as servers:
        assert await servers.wait_up(within=60)
        first = int((await servers.call("tiny", "pid", {})).content)
        os.kill(first, signal.SIGKILL)
        await wait_until(lambda: servers.status()["tiny"].restarts >= 1, what="a restart")
        assert await servers.wait_up(within=60)
        second = int((await servers.call("tiny", "pid", {})).content)
    assert second != first


async def test_slow_start_does_not_block_and_reports_starting() -> None:
    servers = McpServers({"time": _stdio("mcp-server-time")})
    servers.start()
    try:
        assert servers.status()["time"].state == "starting"
        early = await servers.call("time", "get_current_time", {"timezone": "UTC"})
        assert early.outcome == "unavailable"
    finally:
        await servers.aclose()
    assert servers.status()["time"].state == "down"


async def test_streamable_http_server_with_headers(tmp_path: Path) -> None:
    port = free_port()
    root = REPO
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.mcp_tiny_server", "--http", str(port), cwd=root,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(root)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    config = McpServerConfig.model_validate({
        "url": f"http://127.0.0.1:{port}/mcp", "headers": {"Authorization": "Bearer t0ken"}})
    try:
        async with McpServers({"remote": config}, backoff=(0.1, 0.5)) as servers:
            assert await servers.wait_up(within=60)
            assert servers.status()["remote"].transport == "http"
            result = await servers.call("remote", "echo", {"text": "over http"})
            sent = await servers.call("remote", "header", {"name": "authorization"})
    finally:
        process.terminate()
        await process.wait()
    assert result.outcome == "ok" and result.content == "over http"
    assert sent.content == "Bearer t0ken"
