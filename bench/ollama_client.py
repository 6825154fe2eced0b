"""Ollama chat: the official ``ollama.AsyncClient`` against homecrew's aiohttp + wire path.

N streamed chats with the Ollama stand-in (in its own thread, so its work is not counted),
each through

* ``official``: ``ollama.AsyncClient(...).chat(..., stream=True)`` (httpx underneath), and
* ``native``: :class:`inference.native.NativeCaller` on the process's aiohttp session,
  parsing with :mod:`inference.wire.ollama_chat` (what the chain uses for Ollama nodes),

interleaved request by request. For each: wall time and the event loop thread's CPU time
per chat (p50/p99), and the time to the first text. This decides which client speaks the
Ollama node's chat stream (see README, "How a request flows").

Run from the repository root: ``.venv/bin/python bench/ollama_client.py [N]``. The last line
is one JSON object (milliseconds).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing

import ollama
from _common import Stats, emit_json, loopback_only, ms, quiet_logs

from inference.config import ModelConfig, NodeConfig, StepTimeouts
from inference.native import NativeCaller
from inference.node_http import NodeHttp
from inference.step import Chunk, Step
from inference.types import ChatRequest, Message
from tests.support.standins import OllamaStandin, Script, ServerThread

N = 300
WARMUP = 30
MODEL = "qwen2.5:14b"
REPLY = ("A streamed reply of a few dozen words, cut into small deltas the way Ollama sends "
         "them, so that per-chunk costs show as they would in a real conversation. ") * 2
CHUNK_CHARS = 6  # ~60 NDJSON lines a reply

Call = Callable[[str], Awaitable[tuple[str, float]]]


def native_call(caller: NativeCaller, base_url: str) -> Call:
    node = NodeConfig(kind="ollama", base_url=base_url)
    step = Step(route="bench", depth=0, alias="ollama", node_name="ollama", node=node,
                model=ModelConfig(node="ollama", model=MODEL),
                timeouts=StepTimeouts(connect=2, first_token=10, total=30))

    async def call(text: str) -> tuple[str, float]:
        started, first = time.perf_counter(), 0.0
        parts: list[str] = []
        request = ChatRequest(route="bench", messages=[Message("user", text)])
        async with aclosing(caller.stream(step, request)) as events:
            async for event in events:
                if isinstance(event, Chunk):
                    first = first or time.perf_counter() - started
                    parts.append(event.text)
        return "".join(parts), first
    return call


def official_call(client: ollama.AsyncClient) -> Call:
    async def call(text: str) -> tuple[str, float]:
        started, first = time.perf_counter(), 0.0
        parts: list[str] = []
        stream = await client.chat(MODEL, messages=[{"role": "user", "content": text}],
                                   stream=True)
        async for part in stream:
            piece = part.message.content
            if piece:
                first = first or time.perf_counter() - started
                parts.append(piece)
        return "".join(parts), first
    return call


async def measure(calls: dict[str, Call], n: int) -> dict[str, dict[str, list[float]]]:
    series: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": [], "ttft": []} for name in calls}
    for index in range(WARMUP + n):
        for name, call in calls.items():
            started, cpu = time.perf_counter(), time.thread_time()
            text, first = await call(f"question {index}")
            wall, used = time.perf_counter() - started, time.thread_time() - cpu
            assert text == REPLY, f"{name}: {text[:60]!r}"
            if index >= WARMUP:
                series[name]["wall"].append(wall)
                series[name]["cpu"].append(used)
                series[name]["ttft"].append(first)
    return series


async def run(base_url: str, n: int) -> dict[str, float]:
    async with NodeHttp.open() as http, ollama.AsyncClient(
            host=base_url, trust_env=False, follow_redirects=False) as client:
        calls = {"native": native_call(NativeCaller(http), base_url),
                 "official": official_call(client)}
        series = await measure(calls, n)
    figures: dict[str, float] = {"n": float(n), "chunks_per_reply": float(
        -(-len(REPLY) // CHUNK_CHARS))}
    for name, values in series.items():
        for kind, numbers in values.items():
            stats = Stats.of(numbers)
            figures[f"{name}_{kind}_p50_ms"] = round(ms(stats.p50), 3)
            figures[f"{name}_{kind}_p99_ms"] = round(ms(stats.p99), 3)
            print(f"{name:>8} {kind:<5} {stats.line_ms()}")
    figures["cpu_official_over_native"] = round(
        figures["official_cpu_p50_ms"] / figures["native_cpu_p50_ms"], 2)
    figures["wall_official_minus_native_p50_ms"] = round(
        figures["official_wall_p50_ms"] - figures["native_wall_p50_ms"], 3)
    return figures


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    quiet_logs()
    script = Script(reply=REPLY, chunk_chars=CHUNK_CHARS)
    with loopback_only(), ServerThread(lambda: OllamaStandin(script=script)) as node:
        figures = asyncio.run(run(node.base_url, n))
    emit_json(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
