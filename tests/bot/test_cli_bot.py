"""``homecrew bot`` as a process: it logs in to the Discord stand-in (via the config's
``discord.api_base`` / ``gateway_url``), answers, stops cleanly on SIGTERM, and exits 2
on a bad token without showing it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.config import DiscordSettings
from tests.support.bot_harness import AGENT_ROUTES
from tests.support.discord_standin import StandinDiscord, WebhookCreated
from tests.support.standins import OpenAIStandin, Script

pytestmark = pytest.mark.timeout(90)


def _config(path: Path, node: OpenAIStandin, discord: StandinDiscord) -> Path:
    routes = ", ".join(f"{r}: [qwen]" for r in AGENT_ROUTES.values())
    path.write_text(
        f"nodes: {{local: {{kind: openai, base_url: '{node.base_url}/v1'}}}}\n"
        "models: {qwen: {node: local, model: qwen}}\n"
        f"routes: {{{routes}}}\n"
        f"data_dir: {path.parent / 'data'}\n"
        f"discord: {{api_base: '{discord.api_base}', gateway_url: '{discord.gateway_url}'}}\n"
        "watch: {metrics: {enabled: false}}\n")
    return path


async def _homecrew_bot(config: Path, token: str, guild: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "DISCORD_TOKEN": token, "DISCORD_GUILD_ID": str(guild),
           "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "homecrew.cli", "bot", "--config", str(config), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_homecrew_bot_runs_answers_and_stops_on_sigterm(
    tmp_path: Path, discord_standin: StandinDiscord,
) -> None:
    async with OpenAIStandin(models=("qwen",), script=Script(reply="Nellie, live.")) as node:
        config = _config(tmp_path / "homecrew.yaml", node, discord_standin)
        process = await _homecrew_bot(config, discord_standin.token, discord_standin.guild_id)
        try:
            # Ready: on_ready creates the six agent channels' webhooks.
            size = DiscordSettings().webhooks_per_channel
            await discord_standin.wait_until(
                lambda: len(discord_standin.events(WebhookCreated)) == 6 * size, timeout=45)
            await discord_standin.user_message("nellie", "alice", "are you live?")

            def answered() -> list[str]:  # the reply as shown once its last edit is in
                return [m.content for m in discord_standin.channel_view("nellie")
                        if m.author_name == "Nellie"]

            await discord_standin.wait_until(lambda: answered() == ["Nellie, live."],
                                             timeout=20)
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert len(discord_standin.command_syncs("guild")) == 1
    assert process.returncode == 0, stderr.decode()
    assert discord_standin.token.encode() not in stderr


async def test_a_bad_token_exits_2_and_is_not_shown(
    tmp_path: Path, discord_standin: StandinDiscord,
) -> None:
    async with OpenAIStandin(models=("qwen",)) as node:
        config = _config(tmp_path / "homecrew.yaml", node, discord_standin)
        process = await _homecrew_bot(config, "not-the-right-token", discord_standin.guild_id)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert b"Discord refused the token" in stderr
    assert b"not-the-right-token" not in stderr
