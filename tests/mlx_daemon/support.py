"""Helpers for the daemon tests: settings, an in-process server, SSE and metrics readers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from mlx_daemon.config import GIB, MlxDaemonSettings
from mlx_daemon.server import DaemonServer
from tests.support.prometheus import sample as metric_value
from tests.support.waiting import wait_until

__all__ = [
    "BROKEN_SCRIPT",
    "PROMPT",
    "WEATHER_SCRIPT",
    "ask",
    "daemon_settings",
    "metric_value",
    "model_bytes",
    "read_sse",
    "running",
    "wait_until",
]

# A Qwen2.5-style tool-calling reply, one token per piece (see tests.support.tiny_mlx_tools).
WEATHER_SCRIPT = (
    "Let me check",
    " the weather.",
    "<tool_call>",
    '\n{"name": "get_weather", ',
    '"arguments": {"city": "Paris", "unit": "celsius"}}\n',
    "</tool_call>",
    "\n<tool_call>\n",
    '{"name": "get_time", "arguments": {"zone": "Europe/Paris"}}',
    "\n</tool_call>",
)
# A call cut short: its JSON does not parse.
BROKEN_SCRIPT = (
    "I will try.",
    "<tool_call>",
    '\n{"name": "get_weather", "arguments": {"ci',
    "</tool_call>",
)

PROMPT = [{"role": "user", "content": "Check the disk usage and tell me when it is back online."}]


def daemon_settings(models: dict[str, Path], tmp_path: Path, **overrides: Any) -> MlxDaemonSettings:
    """Settings serving ``models`` on a free loopback port, logging under ``tmp_path``."""
    data: dict[str, Any] = {
        "port": 0,
        "models": {name: {"path": str(path)} for name, path in models.items()},
        "preload": list(models),
        "log_file": str(tmp_path / "logs" / "mlx-api.log"),
    }
    data.update(overrides)
    return MlxDaemonSettings.model_validate(data)


def model_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


def budget_gb(nbytes: float) -> float:
    return nbytes / GIB


@asynccontextmanager
async def running(
    settings: MlxDaemonSettings, *, ready: bool = True
) -> AsyncIterator[tuple[DaemonServer, httpx.AsyncClient]]:
    """An in-process daemon and an httpx client on its root URL (after preload if ``ready``)."""
    async with DaemonServer(settings) as server:
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        async with httpx.AsyncClient(
            base_url=server.root_url, timeout=60, headers=headers
        ) as client:
            if ready:

                async def preloaded() -> bool:
                    return bool((await client.get("/health")).json()["ready"])

                await wait_until(preloaded, what="preload")
            yield server, client


async def ask(
    client: httpx.AsyncClient, model: str, *, max_tokens: int = 8, **extra: Any
) -> httpx.Response:
    body = {"model": model, "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0.0}
    body.update(extra)
    return await client.post("/v1/chat/completions", json=body)


async def read_sse(response: httpx.Response) -> AsyncIterator[str]:
    """The ``data:`` payloads of a streamed response, in order."""
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield line[len("data:") :].strip()


async def collect_stream(response: httpx.Response) -> list[Any]:
    """Every event of a stream: decoded JSON objects, and the final ``"[DONE]"`` string."""
    events: list[Any] = []
    async for data in read_sse(response):
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


