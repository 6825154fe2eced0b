"""``homecrew mcp serve`` driven by the ``mcp`` SDK's own client: the CLI spawned over
stdio, and over streamable HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.support.processes import free_port
from tests.support.standins import OpenAIStandin, Script
from tests.support.waiting import wait_until
from tests.team.conftest import AGENT_ROUTES
from tests.test_support_paths import REPO


def write_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "homecrew.yaml"
    path.write_text(yaml.safe_dump({
        "nodes": {"local": {"kind": "openai", "base_url": f"{base_url}/v1"}},
        "models": {"local-qwen": {"node": "local", "model": "qwen2.5-14b"}},
        "routes": {route: ["local-qwen"] for route in AGENT_ROUTES.values()},
        "timeouts": {"connect": 1, "first_token": 3, "total": 6},
        "health": {"probe_timeout": 0.5},
        "data_dir": str(tmp_path / "data"),
        "team": {"operator": "ana"},
    }))
    return path


def _command(config: Path, *extra: str) -> list[str]:
    return ["-m", "homecrew.cli", "mcp", "serve", "--config", str(config), *extra]


@pytest.fixture
async def config(tmp_path: Path) -> AsyncIterator[Path]:
    async with OpenAIStandin(script=Script(reply="Disk is fine, says the stand-in.")) as node:
        yield write_config(tmp_path, node.base_url)


@asynccontextmanager
async def over_http(config: Path) -> AsyncIterator[Client]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, *_command(config, "--http", str(port)), cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(config.parent)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async def listening() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            writer.close()
            return True

        await wait_until(listening, within=60, what="mcp serve --http to listen")
        async with Client(f"http://127.0.0.1:{port}/mcp", cache=None) as client:
            yield client
    finally:
        process.terminate()
        await process.wait()


def _stdio(config: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=_command(config), cwd=REPO,
                                 env={"PYTHONPATH": str(REPO)})


async def _exercise(client: Client) -> None:
    listing = await client.list_tools()
    tools = {t.name: t for t in listing.tools}
    assert set(tools) == {"ask_agent", "team_status", "spend", "alerts", "task_list",
                          "task_show", "task_new"}
    new = tools["task_new"].annotations
    assert new is not None and new.read_only_hint is False and new.destructive_hint is False
    hints = {n: t.annotations.read_only_hint if t.annotations else None
             for n, t in tools.items()}
    assert hints == {**dict.fromkeys(tools, True), "task_new": False}

    created = await client.call_tool("task_new", {"title": "Rotate the backup keys",
                                                  "kind": "ops", "owner": "chief"})
    assert not created.is_error, created.content
    task = json.loads(created.content[0].text)  # type: ignore[union-attr]
    listed = await client.call_tool("task_list", {})
    tasks = json.loads(listed.content[0].text)  # type: ignore[union-attr]
    assert [(t["id"], t["title"]) for t in tasks] == [(task["id"], "Rotate the backup keys")]
    status = await client.call_tool("team_status", {})
    report = json.loads(status.content[0].text)  # type: ignore[union-attr]
    assert "local" in report["nodes"] and report["halt"]["active"] is False


async def test_stdio_serve_lists_and_runs_the_team_tools(config: Path) -> None:
    async with Client(_stdio(config), cache=None) as client:
        await _exercise(client)
        answer = await client.call_tool("ask_agent", {"agent": "chief",
                                                      "prompt": "how full is the disk?"})
    assert answer.content[0].text == "Disk is fine, says the stand-in."  # type: ignore[union-attr]


async def test_http_serve_lists_and_runs_the_team_tools(config: Path) -> None:
    async with over_http(config) as client:
        await _exercise(client)


async def test_bad_tool_arguments_are_an_error_result(config: Path) -> None:
    async with Client(_stdio(config), cache=None) as client:
        refused = await client.call_tool("task_new", {"title": "x", "kind": "nope",
                                                      "owner": "chief"})
    assert refused.is_error
    assert "unknown kind" in refused.content[0].text  # type: ignore[union-attr]


def test_serve_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    from homecrew.cli import main

    assert main(["mcp", "serve", "--config", str(tmp_path / "missing.yaml")]) == 2
