"""``homecrew doctor`` against the Discord stand-in and stand-in nodes: all good, then
each kind of problem named with its fix, and no secret ever printed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.doctor import check_nodes
from homecrew.cli import main
from homecrew.commands.bot_commands import run_doctor
from inference.config import InferenceSettings
from tests.support.bot_harness import WorldOptions, homecrew_world
from tests.support.discord_standin import StandinDiscord
from tests.support.discord_standin.world import (
    DEFAULT_BOT_PERMISSIONS,
    MANAGE_WEBHOOKS,
    RoleSpec,
)
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, OpenAIStandin, ServerThread
from tests.support.tls import self_signed

pytestmark = pytest.mark.timeout(60)


async def test_a_good_setup_passes_every_check(tmp_path: Path) -> None:
    async with homecrew_world(tmp_path, start=False) as world:
        report = await run_doctor(world.settings, {}, api_base=world.discord.api_base)
        text = report.text()
        assert report.ok, text
        assert world.discord.token not in text
    areas = {f.area: f for f in report.findings}
    assert areas["discord token"].detail == "valid: logged in as homecrew"
    assert areas["message content intent"].ok
    assert areas["agent channels"].detail == "#skip #nellie #chief #gonzo #cleo #jax #alerts"
    assert areas["webhooks"].detail == "created the bot's webhook in #skip (reused later)"
    assert areas["node nellie-node"].detail.endswith("models listed: nellie-model")
    assert areas["redis"].detail == "not configured: in-process cache"
    assert text.endswith("-- all good")


async def test_problems_are_named_with_what_to_fix(tmp_path: Path) -> None:
    options = WorldOptions(standin={
        "application_flags": 0,
        "text_channels": ("skip", "nellie", "chief", "gonzo", "cleo", "alerts"),
        "bot_permissions": DEFAULT_BOT_PERMISSIONS & ~MANAGE_WEBHOOKS,
        "roles": (RoleSpec("admin", 0),),
    }, redis_url="redis://127.0.0.1:9/0")
    async with homecrew_world(tmp_path, options, start=False) as world:
        await world.node("gonzo").stop()
        report = await run_doctor(world.settings, {}, api_base=world.discord.api_base)
    bad = {f.area: f for f in report.findings if not f.ok}
    assert set(bad) == {"node gonzo-node", "redis", "message content intent",
                        "bot permissions", "agent channels", "webhooks"}
    assert bad["node gonzo-node"].fix == "start the server or fix nodes.gonzo-node.base_url"
    assert bad["message content intent"].fix.endswith("turn on Message Content Intent")
    assert bad["bot permissions"].detail == "missing Manage Webhooks"
    assert bad["agent channels"].detail == "missing #jax"
    assert "Manage Webhooks" in bad["webhooks"].fix
    assert "fix: " in report.text() and report.text().endswith("-- 6 problem(s) to fix")


async def test_a_bad_token_is_reported_without_being_shown(tmp_path: Path) -> None:
    async with homecrew_world(tmp_path, start=False) as world:
        settings = world.settings.model_copy(update={"discord": world.settings.discord
                                                     .model_copy(update={"token": None})})
        env = {"DISCORD_TOKEN": "definitely-wrong-token"}
        report = await run_doctor(settings, env, api_base=world.discord.api_base)
    bad = [f for f in report.findings if not f.ok]
    assert [f.area for f in bad] == ["discord token"]
    assert bad[0].detail == "Discord says the token is invalid"
    assert "definitely-wrong-token" not in report.text()


def test_the_cli_reads_the_env_file_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    standin_thread = ServerThread(lambda: StandinDiscord(patch_discord=False))  # type: ignore[type-var]
    with standin_thread as discord, ServerThread(lambda: OpenAIStandin(models=("qwen",))) as node:
        standin = discord.server
        routes = ["smart-agent", "nellie-research", "chief-monitor", "gonzo-backend",
                  "cleo-frontend", "jax-creative"]
        config = tmp_path / "homecrew.yaml"
        config.write_text(
            f"nodes: {{local: {{kind: openai, base_url: '{node.base_url}/v1'}}}}\n"
            "models: {qwen: {node: local, model: qwen}}\n"
            "routes: {" + ", ".join(f"{r}: [qwen]" for r in routes) + "}\n"
            f"data_dir: {tmp_path / 'data'}\n")
        (tmp_path / ".env").write_text(
            f"DISCORD_TOKEN={standin.token}\nDISCORD_GUILD_ID={standin.guild_id}\n")
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("DISCORD_TOKEN", raising=False)
        monkeypatch.delenv("DISCORD_GUILD_ID", raising=False)
        code = main(["doctor", "--config", str(config), "--discord-api", standin.api_base,
                     "--json"])
    out = capsys.readouterr().out
    report = json.loads(out)
    assert code == 0, out
    assert report["ok"] is True
    assert standin.token not in out
    assert {f["area"] for f in report["findings"]} >= {
        "config", "personas", "secret DISCORD_TOKEN", "node local", "discord token",
        f"guild {standin.guild_id}", "webhooks"}


async def test_doctor_says_the_commands_are_not_synced_and_why(tmp_path: Path) -> None:
    async with homecrew_world(tmp_path, start=False) as world:
        world.discord.fail_rest("PUT /applications/*/guilds/*/commands", status=400,
                                code=50035, message="Invalid Form Body")
        await world.start()
        await world.stop()
        report = await run_doctor(world.settings, {}, api_base=world.discord.api_base)
        world.discord.clear_faults()
        await world.start()  # this time the sync goes through
        await world.stop()
        after = await run_doctor(world.settings, {}, api_base=world.discord.api_base)
    bad = {f.area: f for f in report.findings if not f.ok}
    assert set(bad) == {"slash commands"}
    assert bad["slash commands"].detail.startswith(
        "not synced: Discord answered 400, code 50035: Invalid Form Body (the bot's last "
        "attempt, 0 min ago")
    synced = {f.area: f for f in after.findings}["slash commands"]
    assert synced.ok and "registered: /agents" in synced.detail and "/status" in synced.detail


async def test_doctor_names_a_guild_that_refuses_commands(tmp_path: Path) -> None:
    async with homecrew_world(tmp_path, start=False) as world:
        world.discord.fail_rest("GET /applications/*/guilds/*/commands", status=403,
                                code=50001, message="Missing Access")
        report = await run_doctor(world.settings, {}, api_base=world.discord.api_base)
    bad = {f.area: f for f in report.findings if not f.ok}
    assert set(bad) == {"slash commands"}
    assert bad["slash commands"].detail.endswith("(403, code 50001: Missing Access)")
    assert "applications.commands" in bad["slash commands"].fix


def ollama_settings(tmp_path: Path, url: str, models: list[str], **node: object
                    ) -> InferenceSettings:
    return make_settings(
        nodes={"box": {"kind": "ollama", "base_url": url, **node}},
        models={f"m{i}": {"node": "box", "model": m} for i, m in enumerate(models)},
        routes={"r": [f"m{i}" for i in range(len(models))]}, data_dir=tmp_path)


async def test_ollama_models_not_pulled_are_named_with_the_pull_command(tmp_path: Path
                                                                         ) -> None:
    async with OllamaStandin(models=["qwen2.5:14b", "llama3.2:latest"]) as ollama:
        fine = await check_nodes(ollama_settings(tmp_path, ollama.base_url,
                                                 ["qwen2.5:14b", "llama3.2"]))
        short = await check_nodes(ollama_settings(
            tmp_path, ollama.base_url, ["qwen2.5:14b", "qwen2.5-coder:14b", "phi4"]))
        paths = {r.path for r in ollama.requests}
    assert fine[0].ok and fine[0].detail.startswith("up (Ollama 0.12.6, ")
    assert fine[0].detail.endswith("models pulled: llama3.2, qwen2.5:14b")
    assert not short[0].ok
    assert short[0].detail.endswith("but not pulled: phi4, qwen2.5-coder:14b")
    assert short[0].fix.startswith("ollama pull phi4 qwen2.5-coder:14b")
    assert paths == {"/api/version", "/api/tags"}


async def test_a_tls_failure_is_named_as_one(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path / "tls")
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                        ssl=certificate.server_context())
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        findings = await check_nodes(make_settings(
            nodes={"ol": {"kind": "ollama", "base_url": url},
                   "vl": {"kind": "openai", "base_url": url + "/v1"}},
            models={"a": {"node": "ol", "model": "x"}, "b": {"node": "vl", "model": "y"}},
            routes={"r": ["a", "b"]}, data_dir=tmp_path))
    finally:
        server.close()
    for finding in findings:
        assert not finding.ok
        assert finding.detail.startswith("TLS failure: certificate not trusted")
        assert "tls.ca_file" in finding.fix


async def test_doctor_starts_mcp_servers_and_warns_of_unconfigured_grants(
        tmp_path: Path) -> None:
    from team.tools import McpServerConfig
    from tests.support.mcp_fixtures import tiny_server_config

    async with homecrew_world(tmp_path, start=False) as world:
        servers = {"tiny": tiny_server_config(),
                   "broken": McpServerConfig(command="/nonexistent/mcp-server")}
        settings = world.settings.model_copy(update={"mcp_servers": servers})
        report = await run_doctor(settings, {}, api_base=world.discord.api_base,
                                  discord=False)
    areas = {f.area: f for f in report.findings}
    assert areas["mcp tiny"].ok and areas["mcp tiny"].detail == "up: 6 tools"
    assert not areas["mcp broken"].ok and "command not found" in areas["mcp broken"].detail
    grant = areas["tools nellie"]
    assert grant.ok and grant.warning and "grant fetch skipped" in grant.detail
    assert "! tools nellie" in report.text()
    assert "tools gonzo" not in areas  # db? / postgres? are optional grants
