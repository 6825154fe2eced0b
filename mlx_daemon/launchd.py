"""The macOS LaunchAgent that keeps the daemon running (start at login, restart on crash).

:func:`render_plist` builds the plist from a :class:`LaunchAgent`; :func:`install`
writes it to ``~/Library/LaunchAgents/<label>.plist`` and (re)loads it with
``launchctl bootstrap`` (falling back to ``launchctl load -w`` on old systems).
``deploy/launchd/com.homecrew.mlx-daemon.plist`` is an example of the output.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_LABEL",
    "LaunchAgent",
    "agent_for",
    "install",
    "install_instructions",
    "plist_path",
    "render_plist",
]

DEFAULT_LABEL = "com.homecrew.mlx-daemon"
_SYSTEM_PATH = "/usr/local/bin:/opt/homebrew/bin:/usr/bin:/bin:/usr/sbin:/sbin"


@dataclass(frozen=True)
class LaunchAgent:
    label: str
    program_arguments: tuple[str, ...]
    working_directory: Path
    stdout_path: Path
    stderr_path: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    throttle_interval: int = 10


def agent_for(
    config_path: Path,
    log_file: Path,
    *,
    label: str = DEFAULT_LABEL,
    python: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> LaunchAgent:
    """The agent running ``<python> -m mlx_daemon serve --config <config_path>``.

    launchd's own stdout/stderr files sit beside the daemon's rotating log
    (``mlx-api.log`` -> ``mlx-api.stdout.log`` / ``mlx-api.stderr.log``).
    """
    config = config_path.expanduser().resolve()
    log_file = log_file.expanduser()
    interpreter = python or sys.executable
    env = {
        "PATH": f"{Path(interpreter).parent}:{_SYSTEM_PATH}",
        "HOMECREW_CONFIG": str(config),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    return LaunchAgent(
        label=label,
        program_arguments=(interpreter, "-m", "mlx_daemon", "serve", "--config", str(config)),
        working_directory=config.parent,
        stdout_path=log_file.with_name(f"{log_file.stem}.stdout.log"),
        stderr_path=log_file.with_name(f"{log_file.stem}.stderr.log"),
        environment=env,
    )


def render_plist(agent: LaunchAgent) -> bytes:
    document = {
        "Label": agent.label,
        "ProgramArguments": list(agent.program_arguments),
        "WorkingDirectory": str(agent.working_directory),
        "EnvironmentVariables": dict(agent.environment),
        "RunAtLoad": True,
        "KeepAlive": True,
        "ThrottleInterval": agent.throttle_interval,
        "ProcessType": "Interactive",
        "StandardOutPath": str(agent.stdout_path),
        "StandardErrorPath": str(agent.stderr_path),
    }
    return plistlib.dumps(document, sort_keys=False)


def plist_path(label: str, home: Path | None = None) -> Path:
    return (home or Path.home()) / "Library" / "LaunchAgents" / f"{label}.plist"


def install_instructions(agent: LaunchAgent) -> str:
    target = f"~/Library/LaunchAgents/{agent.label}.plist"
    return (
        f"Save the plist above as {target} on the Mac, then run:\n"
        f"  launchctl bootstrap gui/$(id -u) {target}\n"
        f"  launchctl kickstart -k gui/$(id -u)/{agent.label}   # restart after changes\n"
        f"Logs: {agent.stdout_path.parent}/"
    )


def _launchctl(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["launchctl", *args], capture_output=True, text=True, check=False)


def install(agent: LaunchAgent, *, home: Path | None = None) -> Path:
    """Write the plist and (re)load it with launchctl (macOS only). Returns its path.

    Raises :class:`RuntimeError` with launchctl's message if loading fails.
    """
    target = plist_path(agent.label, home)
    target.parent.mkdir(parents=True, exist_ok=True)
    agent.stdout_path.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(render_plist(agent))
    domain = f"gui/{os.getuid()}"
    _launchctl(["bootout", f"{domain}/{agent.label}"])  # not loaded yet is fine
    loaded = _launchctl(["bootstrap", domain, str(target)])
    if loaded.returncode != 0:
        legacy = _launchctl(["load", "-w", str(target)])
        if legacy.returncode != 0:
            message = (loaded.stderr or legacy.stderr).strip()
            raise RuntimeError(f"launchctl could not load {target}: {message}")
    return target
