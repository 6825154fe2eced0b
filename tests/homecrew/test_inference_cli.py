"""The `homecrew` CLI: ask, status, routes, spend, import-litellm, and its error paths."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from homecrew.cli import main
from tests.support.standins import (
    AnthropicStandin,
    BlackholeServer,
    OllamaStandin,
    OpenAIStandin,
    Script,
    ServerThread,
    refused_url,
)
from tests.support.tls import self_signed
from tests.test_support_paths import REPO


@pytest.fixture
def ollama() -> Iterator[ServerThread[OllamaStandin]]:
    with ServerThread(lambda: OllamaStandin(script=Script(reply="pong from ollama"))) as node:
        yield node


@pytest.fixture
def claude() -> Iterator[ServerThread[AnthropicStandin]]:
    with ServerThread(lambda: AnthropicStandin(script=Script(reply="pong from claude"))) as node:
        yield node


def write_config(tmp_path: Path, mlx_url: str, ollama_url: str, claude_url: str) -> Path:
    path = tmp_path / "homecrew.yaml"
    path.write_text(f"""
nodes:
  mlx: {{kind: openai, base_url: "{mlx_url}"}}
  ollama: {{kind: ollama, base_url: "{ollama_url}"}}
  anthropic: {{kind: anthropic, base_url: "{claude_url}", api_key: "${{ANTHROPIC_API_KEY}}"}}
models:
  mlx-qwen: {{node: mlx, model: mlx-community/Qwen2.5-14B-Instruct-4bit}}
  ollama-qwen: {{node: ollama, model: "qwen2.5:14b"}}
  claude-sonnet: {{node: anthropic, model: claude-sonnet-4-5}}
routes:
  smart-agent: [mlx-qwen, ollama-qwen, claude-sonnet]
timeouts: {{connect: 1, first_token: 2, total: 5}}
health: {{probe_timeout: 0.5}}
data_dir: "{tmp_path / 'data'}"
""")
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-test-SECRET\n")
    return path


@pytest.fixture
def config(tmp_path: Path, ollama: ServerThread[OllamaStandin],
           claude: ServerThread[AnthropicStandin]) -> Path:
    return write_config(tmp_path, refused_url() + "/v1", ollama.base_url, claude.base_url)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("ask", "status", "routes", "spend", "import-litellm", "mlx-daemon"):
        assert command in out


def test_ask_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--config", str(config), "--route", "smart-agent", "--json", "ping"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text"] == "pong from ollama"
    assert (out["node"], out["model"], out["fallback_depth"], out["cached"]) == (
        "ollama", "ollama-qwen", 1, False)
    for key in ("latency_s", "ttft_s", "cost_usd"):
        assert isinstance(out[key], float)
    assert out["hedged"] is False


def test_ask_json_says_when_a_hedge_answered(
    tmp_path: Path, ollama: ServerThread[OllamaStandin], claude: ServerThread[AnthropicStandin],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the MLX node answers its probe but is slow to a first token: Ollama is started beside it
    slow = Script(reply="pong from mlx", first_token_delay=60)
    with ServerThread(lambda: OpenAIStandin(script=slow)) as mlx:
        config = write_config(tmp_path, mlx.base_url + "/v1", ollama.base_url, claude.base_url)
        timeouts = "timeouts: {connect: 1, first_token: 2, total: 5"
        config.write_text(config.read_text().replace(
            timeouts, timeouts + ", routes: {smart-agent: {hedge_after: 0.2}}"))
        assert main(["ask", "--config", str(config), "--route", "smart-agent", "--json",
                     "ping"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert main(["spend", "--config", str(config), "--by", "model", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert main(["spend", "--config", str(config), "--by", "model"]) == 0
        assert "mlx-qwen" in capsys.readouterr().out
    assert (out["text"], out["node"], out["hedged"], out["fallback_depth"]) == (
        "pong from ollama", "ollama", True, 1)
    assert out["fell_back_from"][0].startswith("mlx-qwen (hedge_lost: ")
    # the cancelled attempt is recorded, but is neither an answer nor a failure
    assert {row["key"]: (row["attempts"], row["answered"], row["failures"])
            for row in report["rows"]} == {"mlx-qwen": (1, 0, 0), "ollama-qwen": (1, 1, 0)}


def test_ask_streams_with_a_footer(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--config", str(config), "--route", "smart-agent", "ping"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "pong from ollama\n"
    assert "ollama-qwen@ollama" in captured.err
    assert "fell back from mlx-qwen" in captured.err


def test_ask_does_not_probe_a_hung_node_its_route_does_not_use(
    tmp_path: Path, ollama: ServerThread[OllamaStandin], claude: ServerThread[AnthropicStandin],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A node that accepts connections and never answers, on another route, costs an
    `ask` nothing: the command probes only its own route's nodes."""
    with ServerThread(BlackholeServer) as hung:
        config = write_config(tmp_path, hung.base_url + "/v1", ollama.base_url,
                              claude.base_url)
        text = config.read_text().replace(
            "  smart-agent: [mlx-qwen, ollama-qwen, claude-sonnet]\n",
            "  smart-agent: [mlx-qwen, ollama-qwen, claude-sonnet]\n"
            "  local-only: [ollama-qwen]\n")
        config.write_text(text)
        assert main(["ask", "--config", str(config), "--route", "local-only", "--json",
                     "ping"]) == 0
        assert json.loads(capsys.readouterr().out)["text"] == "pong from ollama"
        assert hung.server.connections == 0, "the unused hung node was never contacted"


def test_no_reachable_node_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, refused_url() + "/v1", refused_url(), refused_url())
    assert main(["ask", "--config", str(config), "--route", "smart-agent", "ping"]) == 1
    err = capsys.readouterr().err
    assert "every step of route 'smart-agent' failed" in err
    assert "mlx-qwen@mlx" in err
    assert "claude-sonnet@anthropic" in err
    assert "Traceback" not in err
    assert "SECRET" not in err


def test_usage_errors_exit_2(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--config", str(config), "--route", "nope", "hi"]) == 2
    assert "smart-agent" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path / "data" if (tmp_path / "data").exists() else tmp_path.parent)
    monkeypatch.delenv("HOMECREW_CONFIG", raising=False)
    assert main(["routes"]) == 2
    assert "no homecrew.yaml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["spend", "--by", "colour"])
    assert exited.value.code == 2


def test_status_and_routes(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--config", str(config), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["nodes"]["mlx"]["up"] is False
    assert status["nodes"]["mlx"]["detail"] or status["nodes"]["mlx"]["last_error"]
    assert status["nodes"]["ollama"]["up"] is True
    assert status["nodes"]["ollama"]["probe_latency_ms"] is not None
    assert status["nodes"]["anthropic"]["detail"] == "outcomes only"
    assert {n: v["client"] for n, v in status["nodes"].items()} == {
        "mlx": "native", "ollama": "native", "anthropic": "litellm"}
    assert status["routes"]["smart-agent"]["serving"] == "ollama-qwen"
    assert status["nodes"]["ollama"]["not_pulled"] == []
    assert "not_pulled" not in status["nodes"]["mlx"]
    assert main(["status", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert "SERVING NOW" in text
    assert "mlx-qwen ✗" in text
    assert "not pulled" not in text
    assert main(["routes", "--config", str(config)]) == 0
    assert "mlx-qwen (mlx)" in capsys.readouterr().out


def test_status_names_ollama_models_not_pulled(
    tmp_path: Path, claude: ServerThread[AnthropicStandin], capsys: pytest.CaptureFixture[str]
) -> None:
    with ServerThread(lambda: OllamaStandin(models=["llama3.2:latest"])) as bare:
        config = write_config(tmp_path, refused_url() + "/v1", bare.base_url, claude.base_url)
        assert main(["status", "--config", str(config), "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert main(["status", "--config", str(config)]) == 0
        text = capsys.readouterr().out
    assert status["nodes"]["ollama"]["not_pulled"] == ["qwen2.5:14b"]
    assert "not pulled: qwen2.5:14b (ollama pull qwen2.5:14b)" in text


def test_status_reports_a_tls_failure_as_one(
    tmp_path: Path, ollama: ServerThread[OllamaStandin], claude: ServerThread[AnthropicStandin],
    capsys: pytest.CaptureFixture[str]
) -> None:
    certificate = self_signed(tmp_path / "tls")

    def tls_node() -> OpenAIStandin:
        node = OpenAIStandin()
        node.tls = certificate.server_context()
        return node

    with ServerThread(tls_node) as node:
        https = node.base_url
        config = write_config(tmp_path, https + "/v1", ollama.base_url, claude.base_url)
        assert main(["status", "--config", str(config), "--json"]) == 0
        untrusted = json.loads(capsys.readouterr().out)["nodes"]["mlx"]
        trusting = config.read_text().replace(
            f'base_url: "{https}/v1"}}',
            f'base_url: "{https}/v1", tls: {{ca_file: "{certificate.cert}"}}}}')
        assert trusting != config.read_text()
        config.write_text(trusting)
        assert main(["status", "--config", str(config), "--json"]) == 0
        trusted = json.loads(capsys.readouterr().out)["nodes"]["mlx"]
    assert untrusted["up"] is False
    assert "TLS failure: certificate not trusted" in (untrusted["last_error"] or "")
    assert "refused" not in (untrusted["last_error"] or "")
    assert trusted["up"] is True, trusted


def test_spend_after_asking(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for prompt in ("a", "b", "a"):
        main(["ask", "--config", str(config), "--route", "smart-agent", "--json", prompt])
    capsys.readouterr()
    assert main(["spend", "--config", str(config), "--by", "node", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # in-process cache: each CLI run is a new process-worth of cache, so no hits here
    assert report["total"]["answered"] == 3
    assert report["total"]["local_share"] == 1.0
    # a one-shot command does not wait for probes: mlx (refused) is tried, fails, and is
    # recorded as a failed attempt; ollama answers every time
    rows = {r["key"]: r for r in report["rows"]}
    assert set(rows) == {"mlx", "ollama"}
    assert (rows["mlx"]["answered"], rows["mlx"]["failures"]) == (0, 3)
    assert rows["ollama"]["answered"] == 3
    with pytest.raises(SystemExit) as exited:
        main(["spend", "--config", str(config), "--since", "yesterday"])
    assert exited.value.code == 2
    assert "expected a period like 30m" in capsys.readouterr().err


def test_import_litellm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "config.yaml"
    source.write_text("""
model_list:
  - model_name: smart-agent
    litellm_params: {model: openai/qwen, api_base: "http://mac-studio.local:8000/v1"}
  - model_name: backup
    litellm_params: {model: ollama/qwen2.5:14b, api_base: "http://localhost:11434"}
router_settings:
  fallbacks: [{smart-agent: [backup]}]
""")
    out = tmp_path / "homecrew.yaml"
    assert main(["import-litellm", str(source), "-o", str(out)]) == 0
    assert main(["routes", "--config", str(out), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table[0]["steps"] == ["smart-agent", "backup"]
    assert main(["import-litellm", str(tmp_path / "missing.yaml")]) == 2


def test_console_script_runs_offline() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "homecrew.cli", "routes", "--config",
         str(REPO / "deploy" / "homecrew.example.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "nellie-research" in result.stdout
