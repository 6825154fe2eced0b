"""Bad input through the real `homecrew` CLI: undecodable prompts are answered; broken
config files exit 2 with a message naming the file and the key, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.standins import OllamaStandin, Script, ServerThread

REPO_ROOT = Path(__file__).parents[2]


@pytest.fixture
def ollama() -> Iterator[ServerThread[OllamaStandin]]:
    with ServerThread(lambda: OllamaStandin(script=Script(reply="pong from ollama"))) as node:
        yield node


def config_text(ollama_url: str, tmp_path: Path, extra: str = "") -> str:
    return f"""
nodes:
  ollama: {{kind: ollama, base_url: "{ollama_url}"}}
models:
  ollama-qwen: {{node: ollama, model: "qwen2.5:14b"}}
routes:
  smart-agent: [ollama-qwen]
timeouts: {{connect: 1, first_token: 5, total: 10}}
data_dir: "{tmp_path / 'data'}"
{extra}"""


def homecrew(tmp_path: Path, *argv: str | bytes, stdin: bytes = b"",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if k not in ("HOMECREW_CONFIG", "NODE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "homecrew.cli", *argv], input=stdin, capture_output=True,
        timeout=120, check=False, cwd=tmp_path, env={**base, **(env or {})},
    )


def test_a_prompt_of_undecodable_bytes_is_answered(
    tmp_path: Path, ollama: ServerThread[OllamaStandin]
) -> None:
    (tmp_path / "homecrew.yaml").write_text(config_text(ollama.base_url, tmp_path))
    result = homecrew(tmp_path, "ask", "--route", "smart-agent", b"disk \xff\xfe full?")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"pong from ollama\n"
    asked = ollama.server.requests_to("/api/chat")[-1].body["messages"][-1]["content"]
    assert asked == "disk \ufffd\ufffd full?"  # each undecodable byte is U+FFFD

    piped = homecrew(tmp_path, "ask", "--route", "smart-agent", "--json", "-",
                     stdin=b"from stdin \xc3(\n")
    assert piped.returncode == 0, piped.stderr.decode()
    assert b'"text": "pong from ollama"' in piped.stdout
    asked = ollama.server.requests_to("/api/chat")[-1].body["messages"][-1]["content"]
    assert asked == "from stdin \ufffd(\n"


def assert_config_error(result: subprocess.CompletedProcess[bytes], path: Path,
                        *fragments: str) -> str:
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert f"homecrew: config error: {path}" in err
    for fragment in fragments:
        assert fragment in err
    return err


def test_a_port_out_of_range_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "homecrew.yaml"
    path.write_text(config_text("http://localhost:99999", tmp_path))
    for command in (("routes",), ("ask", "--route", "smart-agent", "hi"), ("status",)):
        result = homecrew(tmp_path, *command, "--config", str(path))
        assert_config_error(result, path, "nodes.ollama.base_url", "port out of range")


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "homecrew.yaml"
    text = config_text("http://localhost:11434", tmp_path, "team: {operator: OPERATOR}\n")
    path.write_bytes(text.encode().replace(b"OPERATOR", b"Bj\xf6rn"))  # Latin-1, not UTF-8
    result = homecrew(tmp_path, "routes", "--config", str(path))
    assert_config_error(result, path, "team.operator", "not UTF-8", "0xf6")

    (tmp_path / ".env").write_bytes(b"OK=1\nNODE_URL=http://h\xe9te:11434\n")
    path.write_text(config_text("${NODE_URL}", tmp_path))
    result = homecrew(tmp_path, "routes", "--config", str(path))
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert f"{tmp_path / '.env'}: NODE_URL (line 2): not UTF-8" in err


def test_an_unset_variable_without_default_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "homecrew.yaml"
    path.write_text(config_text("${NODE_URL}", tmp_path))
    result = homecrew(tmp_path, "routes", "--config", str(path))
    assert_config_error(result, path, "nodes.ollama.base_url", "${NODE_URL} is not set")

    # set (even to empty, as copying .env.example does) or ${VAR:-default}: fine
    path.write_text(config_text("${NODE_URL:-http://localhost:11434}", tmp_path,
                                "cache: {redis_url: '${NO_SUCH_REDIS_URL:-}'}"))
    assert homecrew(tmp_path, "routes", "--config", str(path)).returncode == 0
    assert homecrew(tmp_path, "routes", "--config", str(path),
                    env={"NODE_URL": ""}).returncode == 0


def test_the_shipped_example_loads_with_an_empty_or_unset_environment(tmp_path: Path) -> None:
    example = REPO_ROOT / "deploy" / "homecrew.example.yaml"
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_KEY", "_TOKEN", "_URL"))}
    unset = subprocess.run(
        [sys.executable, "-m", "homecrew.cli", "routes", "--config", str(example)],
        capture_output=True, timeout=120, check=False, cwd=tmp_path, env=clean,
    )
    assert unset.returncode == 0, unset.stderr.decode()
    (tmp_path / "homecrew.yaml").write_text(example.read_text())
    (tmp_path / ".env").write_text((REPO_ROOT / ".env.example").read_text())
    copied = subprocess.run(
        [sys.executable, "-m", "homecrew.cli", "routes"],
        capture_output=True, timeout=120, check=False, cwd=tmp_path, env=clean,
    )
    assert copied.returncode == 0, copied.stderr.decode()
