"""The LaunchAgent plist and the systemd unit shipped in deploy/."""

from __future__ import annotations

import plistlib
import sys
from pathlib import Path

from mlx_daemon.launchd import (
    DEFAULT_LABEL,
    agent_for,
    install_instructions,
    plist_path,
    render_plist,
)

DEPLOY = Path(__file__).parents[2] / "deploy"
EXAMPLE_PLIST = DEPLOY / "launchd" / "com.homecrew.mlx-daemon.plist"
UNIT = DEPLOY / "systemd" / "homecrew-mlx-daemon.service"


def test_plist_round_trips_and_runs_this_interpreter(tmp_path: Path) -> None:
    config = tmp_path / "homecrew.yaml"
    log_file = tmp_path / "logs" / "mlx-api.log"
    agent = agent_for(config, log_file)
    document = plistlib.loads(render_plist(agent))
    assert plistlib.loads(plistlib.dumps(document)) == document
    assert document["Label"] == DEFAULT_LABEL
    assert document["ProgramArguments"] == [
        sys.executable, "-m", "mlx_daemon", "serve", "--config", str(config.resolve()),
    ]  # fmt: skip
    assert document["RunAtLoad"] is True
    assert document["KeepAlive"] is True
    assert document["WorkingDirectory"] == str(tmp_path.resolve())
    assert document["StandardOutPath"] == str(tmp_path / "logs" / "mlx-api.stdout.log")
    assert document["StandardErrorPath"] == str(tmp_path / "logs" / "mlx-api.stderr.log")
    env = document["EnvironmentVariables"]
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["HOMECREW_CONFIG"] == str(config.resolve())
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)


def test_default_log_location_is_the_seeds(tmp_path: Path) -> None:
    agent = agent_for(tmp_path / "homecrew.yaml", Path("~/.openclaw/workspace/logs/mlx-api.log"))
    logs = Path.home() / ".openclaw" / "workspace" / "logs"
    assert agent.stdout_path == logs / "mlx-api.stdout.log"
    assert plist_path(agent.label, tmp_path) == (
        tmp_path / "Library" / "LaunchAgents" / "com.homecrew.mlx-daemon.plist"
    )
    assert "launchctl bootstrap gui/$(id -u)" in install_instructions(agent)


def test_shipped_example_is_what_the_generator_writes() -> None:
    shipped = plistlib.loads(EXAMPLE_PLIST.read_bytes())
    agent = agent_for(
        Path("/Users/homelab/homecrew/homecrew.yaml"),
        Path("/Users/homelab/.openclaw/workspace/logs/mlx-api.log"),
        python="/Users/homelab/homecrew/.venv/bin/python",
    )
    assert shipped == plistlib.loads(render_plist(agent))


def _unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = []
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {raw!r}"
        sections[current].append((key, value))
    return sections


def test_systemd_unit_runs_the_daemon_and_restarts_it() -> None:
    sections = _unit_sections(UNIT.read_text(encoding="utf-8"))
    assert set(sections) == {"Unit", "Service", "Install"}
    service = dict(sections["Service"])
    environment = [v for k, v in sections["Service"] if k == "Environment"]
    exec_start = service["ExecStart"].split()
    assert exec_start[0].endswith("/python")
    assert exec_start[1:5] == ["-m", "mlx_daemon", "serve", "--config"]
    assert service["Restart"] == "on-failure"
    assert service["Type"] == "simple"
    assert "HF_HUB_OFFLINE=1" in environment
    assert dict(sections["Install"])["WantedBy"] == "multi-user.target"
    assert "After" in dict(sections["Unit"])
