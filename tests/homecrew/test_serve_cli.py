"""``homecrew serve`` as a process: it says where it listens, answers the ``openai`` SDK
(routes and agents), refuses a LAN address without keys, and stops cleanly on SIGTERM; with
``gateway.enabled``, ``homecrew bot`` serves it from the bot's process."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.bot_harness import AGENT_ROUTES
from tests.support.discord_standin import StandinDiscord
from tests.support.processes import ManagedProcess, free_port
from tests.support.standins import OpenAIStandin, Script

pytestmark = pytest.mark.timeout(120)
ENV = {"HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def _config(path: Path, node: OpenAIStandin, port: int, extra: str = "") -> Path:
    routes = ", ".join(f"{r}: [qwen]" for r in {*AGENT_ROUTES.values(), "smart-agent"})
    path.write_text(
        f"nodes: {{local: {{kind: openai, base_url: '{node.base_url}/v1'}}}}\n"
        "models: {qwen: {node: local, model: qwen}}\n"
        f"routes: {{{routes}}}\n"
        f"data_dir: {path.parent / 'data'}\n"
        f"gateway: {{port: {port}{extra}}}\n")
    return path


def _serving(port: int) -> Callable[[], bool]:
    """Ready once ``/health`` says every route is served (the bot's start-up may make the
    first probe of its node time out)."""

    def ready() -> bool:
        try:
            return bool(httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok")
        except httpx.HTTPError:
            return False

    return ready


def _serve(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "homecrew.cli", "serve", "--config", str(config), *args]


async def test_homecrew_serve_answers_the_sdk_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    async with OpenAIStandin(models=("qwen",), script=Script(reply="served")) as node:
        config = _config(tmp_path / "homecrew.yaml", node, port)
        server = ManagedProcess(_serve(config), ready=f"http://127.0.0.1:{port}/health",
                                env=ENV, name="homecrew-serve")
        async with server:
            client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1",
                                        api_key="unused", max_retries=0)
            reply = await client.chat.completions.create(
                model="nellie", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "served"
            sent = node.requests_to("/v1/chat/completions")[-1].body["messages"]
            assert sent[0]["role"] == "system" and "Nellie" in sent[0]["content"]
            names = {m.id for m in (await client.models.list()).data}
            assert {"smart-agent", "qwen", "nellie", "skip"} <= names
            assert f"gateway listening on 127.0.0.1:{port}" in server.output_tail()
            code = await asyncio.to_thread(server.stop)
        assert code == 0


async def test_homecrew_serve_refuses_a_lan_address_without_keys(tmp_path: Path) -> None:
    async with OpenAIStandin(models=("qwen",)) as node:
        config = _config(tmp_path / "homecrew.yaml", node, free_port())
        process = await asyncio.create_subprocess_exec(
            *_serve(config, "--host", "0.0.0.0"), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "gateway.host" in stderr.decode() and "no API keys" in stderr.decode()


async def test_homecrew_bot_serves_the_gateway_when_enabled(
        tmp_path: Path, discord_standin: StandinDiscord) -> None:
    port = free_port()
    async with OpenAIStandin(models=("qwen",), script=Script(reply="from the bot")) as node:
        config = _config(tmp_path / "homecrew.yaml", node, port, ", enabled: true")
        with config.open("a") as file:
            file.write(f"discord: {{api_base: '{discord_standin.api_base}', "
                       f"gateway_url: '{discord_standin.gateway_url}'}}\n"
                       "watch: {metrics: {enabled: false}}\n")
        argv = [sys.executable, "-m", "homecrew.cli", "bot", "--config", str(config)]
        env = {**ENV, "DISCORD_TOKEN": discord_standin.token,
               "DISCORD_GUILD_ID": str(discord_standin.guild_id)}
        async with ManagedProcess(argv, ready=_serving(port), env=env, name="homecrew-bot") as bot:
            client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1",
                                        api_key="unused", max_retries=0)
            reply = await client.chat.completions.create(
                model="smart-agent", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "from the bot"
            assert await asyncio.to_thread(bot.stop) == 0
