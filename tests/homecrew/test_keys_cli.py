"""``homecrew keys``: a key is printed once, listed never, refused once revoked."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from gateway.access import Grant
from gateway.errors import Unauthorized
from gateway.gate import open_key_gate
from homecrew.cli import main
from homecrew.settings import load_settings
from store import open_database


def write_config(tmp_path: Path, database_url: str | None) -> Path:
    path = tmp_path / "homecrew.yaml"
    ledger = f"ledger: {{database_url: \"{database_url}\"}}\n" if database_url else ""
    path.write_text(f"""
nodes:
  ollama: {{kind: ollama, base_url: "http://127.0.0.1:9"}}
models:
  qwen: {{node: ollama, model: "qwen2.5:14b"}}
routes:
  smart-agent: [qwen]
  chief-monitor: [qwen]
data_dir: "{tmp_path / 'data'}"
{ledger}""")
    return path


async def homecrew(config: Path, *argv: str) -> tuple[int, str, str]:
    """The real CLI in its own process: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "homecrew.cli", *argv, "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_key_lifecycle(pg_database_url: str, tmp_path: Path) -> None:
    """Through the real console processes (each ~1-4 s to start), against PostgreSQL."""
    config = write_config(tmp_path, pg_database_url)
    settings = load_settings(config)
    db = await open_database(settings.ledger.database_url, settings.data_dir)
    try:
        async with open_key_gate(settings, db) as gate:
            assert await gate.admit({}) == Grant("local")
            created = asyncio.ensure_future(gate.changed())
            code, out, err = await homecrew(config, "keys", "create", "--name", "alice",
                                            "--routes", "smart-agent", "--rpm", "100",
                                            "--monthly-usd", "2.5")
            assert code == 0, err
            lines = out.strip().splitlines()
            secret = lines[-1]
            assert secret.startswith("hc-") and " " not in secret
            assert out.count(secret) == 1 and secret not in err
            assert "alice" in lines[0] and "smart-agent" in lines[0]
            for argv in (("keys", "list"), ("keys", "list", "--json")):
                code, out, err = await homecrew(config, *argv)
                assert code == 0 and secret not in out + err and secret[3:13] not in out
            [listed] = json.loads(out)
            assert listed | {"created_at": 0} == {
                "name": "alice", "routes": ["smart-agent"], "monthly_usd": 2.5, "rpm": 100,
                "created_at": 0, "revoked_at": None, "spent_usd_this_month": 0.0}

            async with asyncio.timeout(2):  # the running gate has seen the new key
                await created
            assert await gate.admit({"Authorization": f"Bearer {secret}"}) == Grant(
                "alice", frozenset({"smart-agent"}))
            changed = asyncio.ensure_future(gate.changed())
            code, out, err = await homecrew(config, "keys", "revoke", "alice")
            assert code == 0 and "revoked" in out, err
            async with asyncio.timeout(2):
                await changed
            with pytest.raises(Unauthorized, match="revoked") as refused:
                await gate.admit({"x-api-key": secret})
            assert secret not in str(refused.value)
    finally:
        await db.close()


def test_bad_input_names_what_is_wrong(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path, None))
    assert main(["keys", "list", "--config", config]) == 0
    assert capsys.readouterr().out.startswith("no keys")
    assert main(["keys", "create", "--config", config, "--name", "bob"]) == 0
    secret = capsys.readouterr().out.splitlines()[-1]
    assert main(["keys", "list", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "bob" in out and secret not in out
    cases: list[tuple[list[str], int, str]] = [
        (["create", "--name", "bob"], 2, "a key named 'bob' exists already"),
        (["create", "--name", "eve", "--routes", "nope,smart-agent,zz"], 2,
         "unknown route(s) nope, zz"),
        (["create", "--name", "Eve"], 2, "name: 'Eve'"),
        (["create", "--name", "local"], 2, "'local' is reserved"),
        (["revoke", "zed"], 1, "no key named 'zed'; keys: bob"),
    ]
    for argv, code, message in cases:
        assert main(["keys", *argv, "--config", config]) == code, argv
        out, err = capsys.readouterr()
        assert message in err and out == ""
    for argv in (["--rpm", "0"], ["--monthly-usd", "-1"], ["--monthly-usd", "lots"]):
        with pytest.raises(SystemExit) as exited:
            main(["keys", "create", "--config", config, "--name", "eve", *argv])
        assert exited.value.code == 2
        assert argv[0] in capsys.readouterr().err
    assert main(["keys", "revoke", "bob", "--config", config]) == 0
    assert main(["keys", "list", "--json", "--config", config]) == 0
    [bob] = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert bob["name"] == "bob" and bob["revoked_at"] is not None
