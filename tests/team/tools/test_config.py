"""``mcp_servers:`` and the tool settings in homecrew.yaml, and persona grants: valid
files load, bad ones name the file and key, and secret values are never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from homecrew.settings import Settings, load_settings
from inference.errors import ConfigError
from personas.loader import load_persona

BASE = {
    "nodes": {"local": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
    "models": {"m": {"node": "local", "model": "x"}},
    "routes": {"r": ["m"]},
}


def _load(tmp_path: Path, extra: dict[str, object],
          env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "homecrew.yaml"
    path.write_text(yaml.safe_dump({**BASE, **extra}))
    return load_settings(path, environ=env or {})


def test_servers_and_tool_settings_load(tmp_path: Path) -> None:
    settings = _load(tmp_path, {
        "mcp_servers": {
            "fetch": {"command": "mcp-server-fetch"},
            "git": {"command": "mcp-server-git", "args": ["--repository", "/srv"],
                    "side_effects": ["git_commit"], "timeout": 5},
            "grafana": {"url": "http://127.0.0.1:8000/mcp",
                        "headers": {"Authorization": "Bearer ${GRAFANA_MCP_TOKEN}"}},
        },
        "team": {"tool_max_steps": 3, "tool_max_chars": 1000},
    }, {"GRAFANA_MCP_TOKEN": "tok-123456789"})
    servers = settings.mcp_servers
    assert servers["fetch"].transport == "stdio" and servers["grafana"].transport == "http"
    token = servers["grafana"].headers["Authorization"]
    assert token.get_secret_value() == "Bearer tok-123456789"
    assert "tok-123456789" not in repr(settings)
    assert servers["git"].needs_approval("git_commit", True)
    assert not servers["git"].needs_approval("git_log", True)
    assert settings.team.tool_max_steps == 3 and settings.team.tool_timeout == 30.0


@pytest.mark.parametrize(("server", "message"), [
    ({"command": "x", "url": "http://127.0.0.1/mcp"}, "either command"),
    ({}, "either command"),
    ({"url": "ftp://host/mcp"}, "http(s) URL"),
    ({"command": "x", "headers": {"Authorization": "Bearer tok-SECRET-1"}}, "headers are for"),
    ({"url": "http://127.0.0.1/mcp", "headers": {"Authorization": "Bearer tok-SECRET-1"},
      "env": {"A": "b"}}, "args, env and cwd"),
    ({"command": "x", "bogus": 1}, "unknown key"),
])
def test_bad_servers_name_file_and_key_without_secrets(
        tmp_path: Path, server: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, {"mcp_servers": {"grafana": server}})
    text = str(caught.value)
    assert str(tmp_path / "homecrew.yaml") in text and "mcp_servers.grafana" in text
    assert message in text and "tok-SECRET-1" not in text


def test_reserved_and_bad_server_names(tmp_path: Path) -> None:
    for name in ("homecrew", "Bad Name"):
        with pytest.raises(ConfigError, match="mcp_servers"):
            _load(tmp_path, {"mcp_servers": {name: {"command": "x"}}})


def test_bad_tool_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"team\.tool_max_steps"):
        _load(tmp_path, {"team": {"tool_max_steps": 0}})


def test_persona_grants_are_checked(tmp_path: Path) -> None:
    from personas.loader import default_personas_dir

    data = yaml.safe_load((default_personas_dir() / "nellie.yaml").read_text())
    path = tmp_path / "nellie.yaml"
    path.write_text(yaml.safe_dump({**data, "tools": ["fetch", "db?", "homecrew.status"]}))
    assert load_persona(path).tools == ("fetch", "db?", "homecrew.status")
    path.write_text(yaml.safe_dump({**data, "tools": ["not a grant"]}))
    with pytest.raises(ConfigError, match=r"nellie\.yaml: tools\.0"):
        load_persona(path)
