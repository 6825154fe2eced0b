"""``homecrew watch check``, ``homecrew alerts`` and ``homecrew report spend --print/--post``
(the post goes to the Discord stand-in through discord.py's REST client)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from homecrew.cli import main
from inference.config import LedgerConfig
from inference.ledger import Ledger
from inference.records import LedgerRecord
from store import Database, open_database
from tests.support.discord_standin import SentMessage, StandinDiscord
from tests.support.standins import (
    AnthropicStandin,
    OllamaStandin,
    OpenAIStandin,
    ServerThread,
    refused_url,
)
from watch.incidents import Incident
from watch.results import Status
from watch.store import WatchStore

TOKEN = "standin-bot-token"


@pytest.fixture(autouse=True)
def _no_discord_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISCORD_TOKEN", "DISCORD_GUILD_ID", "HOMECREW_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def nodes() -> Iterator[tuple[str, str]]:
    with (ServerThread(OllamaStandin) as ollama, ServerThread(AnthropicStandin) as claude):
        yield ollama.base_url, claude.base_url


@pytest.fixture
def discord() -> Iterator[ServerThread[StandinDiscord]]:
    with ServerThread(lambda: StandinDiscord(patch_discord=False)) as server:
        yield server


def write_config(tmp_path: Path, mlx_url: str, nodes: tuple[str, str],
                 api_base: str = "http://127.0.0.1:9/api/v10") -> Path:
    ollama_url, claude_url = nodes
    path = tmp_path / "homecrew.yaml"
    path.write_text(f"""
nodes:
  mlx: {{kind: openai, base_url: "{mlx_url}"}}
  ollama: {{kind: ollama, base_url: "{ollama_url}"}}
  anthropic: {{kind: anthropic, base_url: "{claude_url}", api_key: sk-test}}
models:
  mlx-qwen: {{node: mlx, model: qwen}}
  ollama-qwen: {{node: ollama, model: "qwen2.5:14b"}}
  claude-sonnet: {{node: anthropic, model: claude-sonnet-4-5}}
routes:
  smart-agent: [mlx-qwen, ollama-qwen, claude-sonnet]
health: {{probe_timeout: 0.5}}
data_dir: "{tmp_path / 'data'}"
watch:
  checks:
    host: {{cpu_warn_percent: null, memory_warn_percent: null, memory_critical_percent: null,
            disk_warn_percent: null, disk_critical_percent: null}}
discord: {{api_base: "{api_base}"}}
""")
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\n")
    return path


def test_watch_check_json_and_exit_code(tmp_path: Path, nodes: tuple[str, str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with ServerThread(OpenAIStandin) as mlx:
        config = write_config(tmp_path, f"{mlx.base_url}/v1", nodes)
        assert main(["watch", "check", "--json", "--config", str(config)]) == 0
    results = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"node/mlx", "node/ollama", "node/anthropic", "ollama/ollama", "ledger",
            "host/cpu"} <= set(results)
    assert results["node/mlx"]["status"] == "ok"

    down = write_config(tmp_path, refused_url() + "/v1", nodes)
    assert main(["watch", "check", "--config", str(down)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("CRIT  node/mlx") and "mlx down" in line for line in lines)


def test_alerts_history(tmp_path: Path, nodes: tuple[str, str],
                        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, refused_url(), nodes)
    assert main(["alerts", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "no incidents recorded"

    async def seed() -> None:
        db = await open_database(None, tmp_path / "data")
        store = await WatchStore.open(db)
        await store.save(Incident("1" * 32, "node:mlx", Status.CRITICAL, "mlx down", "refused",
                                  1000.0, 1180.0, 1180.0, closed_at=1840.0))
        await store.save(Incident("2" * 32, "container:redis", Status.WARN, "redis restarted",
                                  "restarted 2 time(s)", 5000.0, 5180.0, 5180.0))
        await db.close()

    asyncio.run(seed())
    assert main(["alerts", "--json", "--config", str(config)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(i["subject"], i["closed_at"], i["duration_s"]) for i in listed] == [
        ("container:redis", None, 180.0), ("node:mlx", 1840.0, 840.0)]
    assert main(["alerts", "--open", "--config", str(config)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("OPEN   warn     container:redis")
    assert line.endswith("redis restarted")


def fill_ledger(data_dir: Path) -> None:
    async def run() -> None:
        async def opener() -> Database:
            return await open_database(None, data_dir)

        import time

        now = time.time()
        async with Ledger(opener, LedgerConfig(), data_dir / "spill") as ledger:
            ledger.record(LedgerRecord(ts=now - 60, route="smart-agent", node="ollama",
                                       model="ollama-qwen", upstream_model="qwen",
                                       agent="skip", cloud_equivalent_usd=0.3))
            ledger.record(LedgerRecord(ts=now - 30, route="smart-agent", node="anthropic",
                                       model="claude-sonnet", upstream_model="claude",
                                       agent="skip", cloud=True, cost_usd=0.1,
                                       cloud_equivalent_usd=0.1, fallback_depth=2))
            await ledger.flush()

    asyncio.run(run())


def test_report_spend_print(tmp_path: Path, nodes: tuple[str, str],
                            capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, refused_url(), nodes)
    fill_ledger(tmp_path / "data")
    chart = tmp_path / "spend.png"
    assert main(["report", "spend", "--print", "--since", "24h", "--chart", str(chart),
                 "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("📊 Spend report, last 24h\n")
    for line in ("Requests: 2 answered / 2 attempts", "Local share: 50.0% (target 95%) ⚠️",
                 "Cloud spend: $0.1000", "Cloud-only would cost: $0.4000",
                 "Savings: $0.3000", "Fallbacks: 1", "Failures: 0"):
        assert line in out.splitlines()
    with Image.open(chart) as image:
        assert image.format == "PNG"
    with pytest.raises(SystemExit) as exited:
        main(["report", "spend", "--print", "--since", "soon", "--config", str(config)])
    assert exited.value.code == 2


def test_report_spend_post_to_discord(tmp_path: Path, nodes: tuple[str, str],
                                      discord: ServerThread[StandinDiscord],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    standin = discord.server
    config = write_config(tmp_path, refused_url(), nodes, api_base=standin.api_base)
    fill_ledger(tmp_path / "data")
    assert main(["report", "spend", "--post", "--guild", str(standin.guild_id),
                 "--config", str(config)]) == 0
    chief = standin.channel_id("chief")
    [sent] = [m for m in standin.events(SentMessage) if m.channel_id == chief]
    [embed] = sent.embeds
    assert embed["title"] == "📊 Spend report, last 24h"
    assert embed["image"]["url"] == "attachment://spend.png"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Requests"] == "2 answered / 2 attempts"
    [png] = sent.files
    assert png.filename == "spend.png"
    assert Image.open(io.BytesIO(png.data)).format == "PNG"
    assert sent.allowed_mentions == {"parse": []}
    captured = capsys.readouterr()
    assert "posted the spend report to #chief" in captured.err
    assert TOKEN not in captured.out + captured.err

    (tmp_path / ".env").write_text("DISCORD_TOKEN=wrong-SECRET-token\n")
    assert main(["report", "spend", "--post", "--guild", str(standin.guild_id),
                 "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "Discord refused the bot token (HTTP 401)" in captured.err
    assert "SECRET" not in captured.out + captured.err

    (tmp_path / ".env").write_text("")
    assert main(["report", "spend", "--post", "--guild", "1", "--config", str(config)]) == 2
    assert "DISCORD_TOKEN is not set" in capsys.readouterr().err
