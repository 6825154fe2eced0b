"""The issue's "done when", as a new user does it: ``homecrew serve``, ``homecrew keys
create``, then the ``openai`` SDK, the ``anthropic`` SDK and ``curl`` with the key. MLX is
down, so the answer falls back to Ollama; the repeat is a cache hit; ``homecrew spend --by
key`` counts it all under the key's name."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import anthropic
import openai
import pytest

from tests.support.processes import ManagedProcess, free_port
from tests.support.standins import OllamaStandin, Script

pytestmark = pytest.mark.timeout(180)
ENV = {"HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
QUESTION = [{"role": "user", "content": "what is the uptime of the NAS?"}]


def _config(path: Path, ollama: OllamaStandin, port: int, database_url: str) -> Path:
    path.write_text(
        "nodes:\n"
        f"  mlx: {{kind: openai, base_url: 'http://127.0.0.1:{free_port()}/v1'}}\n"
        f"  ollama: {{kind: ollama, base_url: '{ollama.base_url}'}}\n"
        "models:\n"
        "  mlx-qwen: {node: mlx, model: qwen}\n"
        "  ollama-qwen: {node: ollama, model: 'qwen2.5:14b'}\n"
        "routes: {smart-agent: [mlx-qwen, ollama-qwen]}\n"
        "timeouts: {connect: 1, first_token: 5, total: 10}\n"
        f"ledger: {{database_url: '{database_url}', flush_interval: 0.05}}\n"
        f"data_dir: {path.parent / 'data'}\n"
        f"gateway: {{port: {port}}}\n")
    return path


async def _homecrew(config: Path, *argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "homecrew.cli", *argv, "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _curl(url: str, *headers: str) -> tuple[int, dict[str, object]]:
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", url]
    for header in headers:
        args += ["-H", header]
    args += ["-H", "Content-Type: application/json", "-d",
             json.dumps({"model": "smart-agent", "messages": QUESTION})]
    body, _, status = subprocess.run(args, capture_output=True, text=True, check=True,
                                     timeout=30).stdout.rpartition("\n")
    return int(status), json.loads(body)


async def test_a_new_user_serves_creates_a_key_and_sees_the_spend(
        tmp_path: Path, pg_database_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    async with OllamaStandin(script=Script(reply="up 42 days", prompt_tokens=12,
                                           completion_tokens=4)) as ollama:
        config = _config(tmp_path / "homecrew.yaml", ollama, port, pg_database_url)
        created = await _homecrew(config, "keys", "create", "--name", "editor",
                                  "--routes", "smart-agent")
        secret = created.strip().splitlines()[-1]
        assert secret.startswith("hc-")
        serve = [sys.executable, "-m", "homecrew.cli", "serve", "--config", str(config)]
        async with ManagedProcess(serve, ready=f"http://127.0.0.1:{port}/health", env=ENV,
                                  name="homecrew-serve") as server:
            client = openai.AsyncOpenAI(base_url=base, api_key=secret, max_retries=0)
            first = await client.chat.completions.with_raw_response.create(
                model="smart-agent", messages=QUESTION)
            assert first.parse().choices[0].message.content == "up 42 days"
            assert first.headers["x-homecrew-node"] == "ollama"  # MLX is down: fell back
            again = await client.chat.completions.with_raw_response.create(
                model="smart-agent", messages=QUESTION)
            assert again.headers["x-homecrew-cached"] == "true"
            status, body = await asyncio.to_thread(
                _curl, f"{base}/chat/completions", f"Authorization: Bearer {secret}")
            assert status == 200 and body["object"] == "chat.completion"
            messages = anthropic.AsyncAnthropic(base_url=f"http://127.0.0.1:{port}",
                                                api_key=secret, max_retries=0)
            message = await messages.messages.create(
                model="smart-agent", max_tokens=64,
                messages=[{"role": "user", "content": "and the router?"}])
            assert message.content[0].type == "text"
            assert message.content[0].text == "up 42 days"
            status, body = await asyncio.to_thread(_curl, f"{base}/chat/completions")
            assert status == 401
            assert body["error"]["type"] == "authentication_error"  # type: ignore[index]
            assert secret not in server.output_tail(200)
            assert await asyncio.to_thread(server.stop) == 0
        assert len(ollama.requests_to("/api/chat")) == 2  # the repeats were cache hits
    report = json.loads(await _homecrew(config, "spend", "--by", "key", "--since", "1h",
                                        "--json"))
    rows = {row["key"]: row for row in report["rows"]}
    assert rows["editor"]["answered"] == 4
    assert rows["editor"]["cache_hits"] == 2
    assert rows["editor"]["prompt_tokens"] >= 12
