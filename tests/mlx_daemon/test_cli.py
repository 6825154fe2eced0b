"""``homecrew mlx-daemon …`` / ``python -m mlx_daemon …``, including a real serving process."""

from __future__ import annotations

import json
import plistlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from homecrew.cli import main as homecrew_main
from mlx_daemon.cli import main as daemon_main
from tests.support.processes import ManagedProcess, free_port

PROMPT = [{"role": "user", "content": "hello there"}]


def _config(tmp_path: Path, models: dict[str, Path], port: int = 8000) -> Path:
    lines = [
        "mlx_daemon:",
        f"  port: {port}",
        "  preload: [tiny-a, tiny-b]",
        f"  log_file: {tmp_path / 'logs' / 'mlx-api.log'}",
        "  models:",
        *(f"    {name}: {{path: {path}}}" for name, path in models.items()),
    ]
    path = tmp_path / "homecrew.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_plist_command_prints_a_valid_plist(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, models)
    assert homecrew_main(["mlx-daemon", "plist", "--config", str(config)]) == 0
    document = plistlib.loads(capsys.readouterr().out.encode())
    assert document["ProgramArguments"][1:] == [
        "-m", "mlx_daemon", "serve", "--config", str(config.resolve()),
    ]  # fmt: skip
    assert document["StandardErrorPath"] == str(tmp_path / "logs" / "mlx-api.stderr.log")


@pytest.mark.skipif(sys.platform == "darwin", reason="would really install on macOS")
def test_install_launchd_elsewhere_prints_plist_and_instructions(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, models)
    code = homecrew_main(["mlx-daemon", "--config", str(config), "install-launchd",
                          "--label", "org.example.mlx"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    assert plistlib.loads(out.encode())["Label"] == "org.example.mlx"
    assert "launchctl bootstrap" in err
    assert "nothing was installed" in err


def test_check_config_locates_model_files(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _config(tmp_path, models)
    assert daemon_main(["check-config", "--config", str(good)]) == 0
    assert "tiny-a (preload)" in capsys.readouterr().out
    broken = {"tiny-a": models["tiny-a"], "tiny-b": tmp_path / "missing"}
    assert daemon_main(["check-config", "--config", str(_config(tmp_path, broken))]) == 1
    assert "NOT FOUND" in capsys.readouterr().out


def test_bad_config_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "homecrew.yaml"
    bad.write_text("mlx_daemon:\n  models: {a: {}}\n  port: eighty\n", encoding="utf-8")
    for argv in (
        [sys.executable, "-m", "mlx_daemon", "serve", "--config", str(bad)],
        [sys.executable, "-m", "homecrew.cli", "mlx-daemon", "--config", str(bad)],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2, done.stderr
        assert "config error" in done.stderr
        assert "mlx_daemon.port" in done.stderr


def test_serves_as_a_real_process_and_stops_cleanly(
    models: dict[str, Path], tmp_path: Path
) -> None:
    port = free_port()
    config = _config(tmp_path, models, port=port)
    root = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return bool(httpx.get(f"{root}/health", timeout=2).json()["ready"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    daemon = ManagedProcess(
        [sys.executable, "-m", "mlx_daemon", "serve", "--config", str(config)],
        ready=ready, env={"HF_HUB_OFFLINE": "1"}, timeout=120, name="mlx-daemon",
    )  # fmt: skip
    with daemon:
        body = {"model": "tiny-b", "messages": PROMPT, "max_tokens": 6, "stream": True,
                "stream_options": {"include_usage": True}}  # fmt: skip
        with httpx.stream("POST", f"{root}/v1/chat/completions", json=body, timeout=30) as reply:
            lines = [line for line in reply.iter_lines() if line.startswith("data:")]
        assert "listening on" in daemon.output_tail()
        code = daemon.stop()
    assert code == 0
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[-2][5:])["usage"]["completion_tokens"] == 6
    log = (tmp_path / "logs" / "mlx-api.log").read_text(encoding="utf-8")
    assert "loaded tiny-a" in log
    assert "mlx daemon stopped" in log
