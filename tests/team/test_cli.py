"""The CLI contracts of the issue, run in-process against a scripted node and SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from homecrew.cli import main
from tests.support.mcp_fixtures import tiny_server_config
from tests.support.standins import OpenAIStandin, Script, ScriptedCall, ServerThread, refused_url

from .conftest import AGENT_ROUTES


@pytest.fixture(scope="module")
def node() -> Iterator[ServerThread[OpenAIStandin]]:
    with ServerThread(lambda: OpenAIStandin(script=Script(reply="Facts, with citations."))) as t:
        yield t


def _config(tmp_path: Path, base_url: str, *, broken_route: bool = False) -> Path:
    data: dict[str, Any] = {
        "nodes": {"local": {"kind": "openai", "base_url": f"{base_url}/v1"}},
        "models": {"local-qwen": {"node": "local", "model": "qwen2.5-14b"}},
        "routes": {route: ["local-qwen"] for route in AGENT_ROUTES.values()},
        "data_dir": str(tmp_path / "data"),
        "health": {"probe_timeout": 0.5},
    }
    if broken_route:
        data["nodes"]["spare"] = {"kind": "openai", "base_url": refused_url() + "/v1"}
        data["models"]["spare-llama"] = {"node": "spare", "model": "llama3.2"}
        data["routes"]["spare"] = ["spare-llama"]
    path = tmp_path / ("broken.yaml" if broken_route else "homecrew.yaml")
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv[:1], "--config", str(config), *argv[1:]]) if argv[0] not in (
        "task",) else main([argv[0], argv[1], "--config", str(config), *argv[2:]])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path, node: ServerThread[OpenAIStandin]) -> Path:
    return _config(tmp_path, node.base_url)


def test_team_json_is_the_roster(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run(capsys, config, "team", "--json")
    agents = json.loads(out)
    assert code == 0 and [a["name"] for a in agents] == list(AGENT_ROUTES)
    assert {a["name"]: a["route"] for a in agents} == AGENT_ROUTES
    assert {"name", "title", "division", "route", "authority"} <= set(agents[0])
    gonzo = next(a for a in agents if a["name"] == "gonzo")
    assert gonzo["division"] == "production"
    assert gonzo["authority"] == "Owns data layer, API contracts, and database schema."
    code, chart, _ = run(capsys, config, "team")
    assert "OPERATIONS DIVISION" in chart and "PRODUCTION DIVISION" in chart
    assert "Skip — Director of Operations" in chart.splitlines()[1]


def test_task_lifecycle_and_the_ship_refusal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, node: ServerThread[OpenAIStandin]
) -> None:
    broken = _config(tmp_path, node.base_url, broken_route=True)
    healthy = _config(tmp_path, node.base_url)
    code, out, _ = run(capsys, healthy, "task", "new", "--kind", "feature", "--owner", "gonzo",
                       "Results API and page")
    assert code == 0
    task_id = out.strip().splitlines()[-1]
    assert task_id == "1"
    code, _, err = run(capsys, healthy, "task", "move", task_id, "implementation")
    assert code == 1 and "cleo" in err and "gonzo" in err and "contract" in err
    code, out, _ = run(capsys, healthy, "task", "move", task_id, "implementation",
                       "--override", "contract agreed in person")
    assert code == 0 and "admin override" in out
    assert run(capsys, healthy, "task", "move", task_id, "review")[0] == 0

    code, out, err = run(capsys, broken, "task", "ship", task_id)
    assert code == 1 and out == ""
    for needed in ("gonzo", "cleo", "docs", "health checks", "route spare"):
        assert needed in err, needed

    docs = tmp_path / "docs.md"
    docs.write_text("# Results API\n", encoding="utf-8")
    assert run(capsys, healthy, "task", "attach", task_id, "--kind", "docs", str(docs))[0] == 0
    assert run(capsys, healthy, "task", "signoff", task_id, "--agent", "gonzo", "--topic",
               "security")[0] == 0
    code, _, err = run(capsys, healthy, "task", "ship", task_id)
    assert code == 1 and "cleo" in err and "gonzo" not in err and "docs" not in err
    assert run(capsys, healthy, "task", "signoff", task_id, "--agent", "cleo", "--topic",
               "responsiveness", "--as", "cleo")[0] == 0
    code, out, _ = run(capsys, healthy, "task", "ship", task_id)
    assert code == 0 and "shipped" in out

    code, out, _ = run(capsys, healthy, "task", "list", "--json")
    assert [t["state"] for t in json.loads(out)] == ["shipped"]
    code, out, _ = run(capsys, healthy, "task", "show", task_id, "--json")
    assert [s["signer"] for s in json.loads(out)["signoffs"]] == ["gonzo", "cleo"]

    code, out, _ = run(capsys, healthy, "audit", "--task", task_id, "--verify")
    assert code == 0 and "override" in out and "audit chain intact" in out
    code, out, _ = run(capsys, healthy, "audit", "--json")
    assert json.loads(out)["entries"][0]["action"] == "task_created"


def test_halt_and_resume(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, _, err = run(capsys, config, "halt", "nope", "--as", "ana")
    assert code == 1 and "only chief or an admin may halt" in err
    code, out, _ = run(capsys, config, "halt", "RED ALERT: swap storm", "--as", "chief")
    assert code == 0 and "halted by chief" in out
    code, _, err = run(capsys, config, "task", "new", "--kind", "script", "--owner", "jax",
                       "Teaser")
    assert code == 1 and "RED ALERT: swap storm" in err
    assert run(capsys, config, "resume")[0] == 0
    code, out, _ = run(capsys, config, "task", "new", "--kind", "script", "--owner", "jax",
                       "Teaser")
    assert code == 0 and out.strip().splitlines()[-1].isdigit()


def test_ask_an_agent(capsys: pytest.CaptureFixture[str], config: Path,
                      node: ServerThread[OpenAIStandin]) -> None:
    code, out, _ = run(capsys, config, "ask", "--agent", "nellie", "--json", "What is MLX?")
    reply = json.loads(out)
    assert code == 0 and reply["text"] == "Facts, with citations."
    assert (reply["agent"], reply["conversation"]) == ("nellie", "cli:architect:nellie")
    for key in ("node", "model", "cached", "latency_s", "ttft_s", "fallback_depth", "cost_usd"):
        assert key in reply
    code, out, err = run(capsys, config, "ask", "--agent", "Nellie", "And Phi-4?")
    assert code == 0 and out == "Facts, with citations.\n" and "local-qwen@local" in err
    sent = node.server.requests_to("/v1/chat/completions")[-1].body["messages"]
    assert {"role": "assistant", "content": "Facts, with citations."} in sent  # persisted
    with pytest.raises(SystemExit):
        main(["ask", "--agent", "nellie", "--route", "smart-agent", "x"])
    capsys.readouterr()


def ask_process(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``homecrew ask`` as its own process, standard input not a terminal."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "homecrew.cli", "ask", "--config",
                           str(config), *argv], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_ask_an_agent_with_a_side_effect_tool_denies_off_a_terminal_and_approve_allows(
    tmp_path: Path, node: ServerThread[OpenAIStandin]
) -> None:
    notes = tmp_path / "notes.txt"
    config = _config(tmp_path, node.base_url)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    # Nellie's packaged grant is `fetch`: the tiny server stands in under that name
    tiny = tiny_server_config(notes)
    data["mcp_servers"] = {"fetch": {
        "command": tiny.command, "args": list(tiny.args), "cwd": str(tiny.cwd),
        "env": {k: v.get_secret_value() for k, v in tiny.env.items()}},
        # granted to nobody asked here: `ask --agent` must not start it
        "unused": {"command": sys.executable,
                   "args": ["-c", f"open({str(tmp_path / 'unused-started')!r}, 'w')"]}}
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    call = ScriptedCall("fetch__write_note", {"text": "remember the milk"}, id="c1")
    node.server.queue(Script.calling(call), Script(reply="I could not write it: denied."))
    done = ask_process(config, "--agent", "nellie", "note: milk")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "I could not write it: denied.\n"
    assert "🔧 fetch · remember the milk …" in done.stderr
    assert "[fetch.write_note: denied]" in done.stderr
    assert not notes.exists()
    node.server.queue(Script.calling(call), Script(reply="Noted."))
    done = ask_process(config, "--agent", "nellie", "--approve", "note: milk")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Noted.\n" and "denied" not in done.stderr
    assert notes.read_text(encoding="utf-8").strip().endswith("remember the milk")
    sent = node.server.requests_to("/v1/chat/completions")[-1].body["messages"]
    assert sent[-1]["role"] == "tool" and sent[-1]["tool_call_id"] == "c1"
    assert not (tmp_path / "unused-started").exists()
