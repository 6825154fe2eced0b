"""What the chain costs on top of the node: per-request overhead, cache hits, memory, start-up.

(a) N sequential requests to a zero-delay OpenAI-compatible stand-in, directly with httpx,
    through a bare ``litellm.Router``, through ``InferenceStack`` (cache bypassed) with the
    node's default client (``auto``: homecrew's native client for a local node) and through
    ``InferenceStack`` with ``client: litellm``; interleaved prompt by prompt, streamed and
    not; p50/p99 of each path, the per-prompt differences chain − direct (the overhead) and
    chain − bare Router, and each path's CPU time per request (the event loop's thread).
(b) Cache hits with a throwaway ``redis-server``: one request warms the cache, then N hits.
(c) This process's RSS (psutil) after start-up and after the runs, and import-to-ready time:
    a fresh ``python -c`` that imports the package and opens a stack with probes.

Run from the repository root: ``.venv/bin/python bench/overhead.py``. The last line is one
JSON object with every figure (milliseconds unless the key says otherwise).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import psutil
from _common import (
    PRODUCT_HEALTH,
    PRODUCT_LEDGER,
    Stats,
    ask,
    drain,
    emit_json,
    loopback_only,
    ms,
    offline_env,
    plain_deployments,
    quiet_logs,
)

from inference._litellm import load_litellm
from inference.cache import RedisCache
from inference.config import InferenceSettings, Timeouts
from inference.runtime import InferenceStack
from tests.support.services import RedisProcess
from tests.support.stack import make_settings
from tests.support.standins import OpenAIStandin, Script, ServerThread

N = 200
WARMUP = 20
IMPORT_RUNS = 3
ROUTE = "bench"
UPSTREAM_MODEL = "mlx-community/Qwen2.5-14B-Instruct-4bit"
REPLY = "Hello from the stand-in."
CACHE_HIT_TARGET_MS = 5.0

# Runs in a fresh interpreter: argv[1] is the settings as JSON. Prints one JSON line when ready.
_CHILD = """
import time
began = time.perf_counter()
import asyncio, json, sys
from inference._litellm import load_litellm
from inference.config import InferenceSettings
from inference.runtime import InferenceStack
imported = time.perf_counter()
load_litellm()
litellm_loaded = time.perf_counter()

async def main():
    settings = InferenceSettings.model_validate_json(sys.argv[1])
    async with InferenceStack.open(settings, probes=True) as stack:
        ready = time.perf_counter()
        import psutil
        print(json.dumps({
            "imports_s": imported - began, "litellm_s": litellm_loaded - imported,
            "open_s": ready - litellm_loaded, "rss": psutil.Process().memory_info().rss,
            "node_up": stack.health()["fast"].up}), flush=True)

asyncio.run(main())
"""


Call = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Series:
    """Interleaved timings (seconds) of one mode: the same i-th prompt on every path."""

    direct: list[float]
    router: list[float]
    chain: list[float]
    chain_litellm: list[float]

    @staticmethod
    def minus(a: list[float], b: list[float]) -> list[float]:
        return [x - y for x, y in zip(a, b, strict=True)]


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def bench_settings(
    base_url: str, data_dir: Path, redis_url: str | None = None, client: str = "auto"
) -> InferenceSettings:
    defaults = Timeouts()
    return make_settings(
        nodes={"fast": {"kind": "openai", "base_url": f"{base_url}/v1", "client": client}},
        models={"fast-qwen": {"node": "fast", "model": UPSTREAM_MODEL}},
        routes={ROUTE: ["fast-qwen"]},
        data_dir=data_dir,
        timeouts={"connect": defaults.connect, "first_token": defaults.first_token,
                  "total": defaults.total},
        health=PRODUCT_HEALTH, ledger=PRODUCT_LEDGER,
        cache={"redis_url": redis_url},
    )


# -- (a) direct vs chain ------------------------------------------------------------------------

async def direct_call(client: httpx.AsyncClient, url: str, text: str, stream: bool) -> str:
    body: dict[str, Any] = {"model": UPSTREAM_MODEL, "stream": stream,
                            "messages": [{"role": "user", "content": text}]}
    if not stream:
        response = await client.post(url, json=body)
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])
    body["stream_options"] = {"include_usage": True}
    parts: list[str] = []
    async with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                parts.append(choice.get("delta", {}).get("content") or "")
    return "".join(parts)


async def chain_call(stack: InferenceStack, text: str, stream: bool) -> str:
    request = ask(text, ROUTE, stream=stream)
    if stream:
        return (await drain(stack, request))[0]
    return (await stack.complete(request)).text


async def router_call(router: Any, text: str, stream: bool) -> str:
    """The same deployment through a bare ``litellm.Router`` (no homecrew layers)."""
    messages = [{"role": "user", "content": text}]
    if not stream:
        response = await router.acompletion(model=ROUTE, messages=messages, stream=False)
        return str(response.choices[0].message.content)
    response = await router.acompletion(model=ROUTE, messages=messages, stream=True,
                                        stream_options={"include_usage": True})
    parts: list[str] = []
    async for chunk in response:
        parts.extend(getattr(c.delta, "content", None) or "" for c in chunk.choices or ())
    return "".join(parts)


async def timed(call: Call, text: str) -> tuple[float, float]:
    """Wall time and the loop thread's CPU time of one call (the stand-in has its own)."""
    started, cpu = time.perf_counter(), time.thread_time()
    reply = await call(text)
    elapsed, used = time.perf_counter() - started, time.thread_time() - cpu
    if reply != REPLY:
        raise RuntimeError(f"unexpected reply {reply!r}")
    return elapsed, used


async def measure(calls: Mapping[str, Call],
                  stream: bool) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Run every path once per prompt, rotating which path goes first; (wall, CPU)."""
    names = list(calls)
    series: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for index in range(WARMUP + N):
        text = f"request {index} ({'stream' if stream else 'whole'}): say hello"
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, used = await timed(calls[name], text)
            if index >= WARMUP:
                series[name].append(seconds)
                cpu[name].append(used)
    return series, cpu


def report_series(mode: str, s: Series, cpu: Mapping[str, list[float]]) -> dict[str, float]:
    d, r, c = Stats.of(s.direct), Stats.of(s.router), Stats.of(s.chain)
    cl = Stats.of(s.chain_litellm)
    o, layers = Stats.of(s.minus(s.chain, s.direct)), Stats.of(s.minus(s.chain, s.router))
    ol = Stats.of(s.minus(s.chain_litellm, s.router))
    used = {name: ms(statistics.median(values)) for name, values in cpu.items()}
    print(f"{mode}: direct httpx             {d.line_ms()}  CPU {used['direct']:.2f} ms")
    print(f"{mode}: bare litellm.Router      {r.line_ms()}  CPU {used['router']:.2f} ms")
    print(f"{mode}: chain (native client)    {c.line_ms()}  CPU {used['chain']:.2f} ms")
    print(f"{mode}: chain (client: litellm)  {cl.line_ms()}  CPU "
          f"{used['chain_litellm']:.2f} ms")
    print(f"{mode}: chain - direct           {o.line_ms()}  (per prompt)")
    print(f"{mode}: chain - bare Router      {layers.line_ms()}  (per prompt)")
    print(f"{mode}: chain (litellm) - Router {ol.line_ms()}  (per prompt: homecrew's layers)")
    return {"direct_p50_ms": ms(d.p50), "direct_p99_ms": ms(d.p99),
            "litellm_router_p50_ms": ms(r.p50), "litellm_router_p99_ms": ms(r.p99),
            "chain_p50_ms": ms(c.p50), "chain_p99_ms": ms(c.p99),
            "chain_litellm_p50_ms": ms(cl.p50), "chain_litellm_p99_ms": ms(cl.p99),
            "overhead_p50_ms": ms(o.p50), "overhead_p99_ms": ms(o.p99),
            "overhead_vs_router_p50_ms": ms(layers.p50),
            "overhead_vs_router_p99_ms": ms(layers.p99),
            "layers_over_router_p50_ms": ms(ol.p50),
            **{f"cpu_{name}_ms": value for name, value in used.items()}}


async def overhead_runs(base_url: str, data_dir: Path) -> dict[str, float]:
    url = f"{base_url}/v1/chat/completions"
    settings = bench_settings(base_url, data_dir)
    model_list, _ = plain_deployments(settings, ROUTE)
    router = load_litellm().Router(model_list=model_list, num_retries=0)
    figures: dict[str, float] = {}
    via_litellm = bench_settings(base_url, data_dir / "litellm", client="litellm")
    async with (
        httpx.AsyncClient(timeout=10) as client,
        InferenceStack.open(settings, probes=True) as stack,
        InferenceStack.open(via_litellm, probes=True) as stack_litellm,
    ):
        figures["rss_startup_mb"] = rss_mb()
        for stream, prefix in ((True, ""), (False, "nostream_")):
            series, cpu = await measure({
                "direct": partial(direct_call, client, url, stream=stream),
                "router": partial(router_call, router, stream=stream),
                "chain": partial(chain_call, stack, stream=stream),
                "chain_litellm": partial(chain_call, stack_litellm, stream=stream),
            }, stream)
            mode = "streamed" if stream else "not streamed"
            figures.update({prefix + k: v for k, v in
                            report_series(mode, Series(**series), cpu).items()})
        await stack.ledger.flush()
        print(f"ledger: {stack.ledger.written} record(s) written")
    return figures


# -- (b) cache hits -----------------------------------------------------------------------------

async def cache_runs(base_url: str, data_dir: Path, redis_url: str) -> dict[str, float]:
    settings = bench_settings(base_url, data_dir, redis_url)
    async with InferenceStack.open(settings, probes=True) as stack:
        request = ask("what is cached stays cached", ROUTE, use_cache=True)
        _, warm = await drain(stack, request)
        if warm.cached:
            raise RuntimeError("the warm-up request was already cached (stale Redis?)")
        hits: list[float] = []
        for _ in range(WARMUP + N):
            started = time.perf_counter()
            text, done = await drain(stack, request)
            hits.append(time.perf_counter() - started)
            if not done.cached or text != REPLY:
                raise RuntimeError("expected a cache hit")
        rtt = await redis_rtt(stack)
    stats = Stats.of(hits[WARMUP:])
    verdict = "met" if ms(stats.p50) <= CACHE_HIT_TARGET_MS else "MISSED"
    print(f"cache hit (Redis): {stats.line_ms()}  target p50 ≤ {CACHE_HIT_TARGET_MS:g} ms: "
          f"{verdict}")
    print(f"  for reference, a bare Redis PING round trip: {rtt.line_ms()}")
    return {"cache_hit_p50_ms": ms(stats.p50), "cache_hit_p99_ms": ms(stats.p99),
            "redis_ping_p50_ms": ms(rtt.p50)}


async def redis_rtt(stack: InferenceStack) -> Stats:
    cache = stack.cache
    if not isinstance(cache, RedisCache):
        raise RuntimeError("the stack is not using Redis")
    return Stats.of([await cache.ping() for _ in range(N)])


# -- (c) import to ready ------------------------------------------------------------------------

def import_to_ready(settings: InferenceSettings) -> tuple[float, dict[str, Any]]:
    """Wall time from spawning a fresh interpreter to its stack being ready (probes done)."""
    started = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, settings.model_dump_json()],
        stdout=subprocess.PIPE, env=offline_env(), text=True,
    ) as child:
        assert child.stdout is not None
        line = child.stdout.readline()
        elapsed = time.perf_counter() - started
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise
    if child.returncode != 0 or not line:
        raise RuntimeError(f"the import-to-ready child failed (exit {child.returncode})")
    details: dict[str, Any] = json.loads(line)
    return elapsed, details


def import_runs(base_url: str, data_dir: Path) -> dict[str, float]:
    settings = bench_settings(base_url, data_dir / "child")
    runs = [import_to_ready(settings) for _ in range(IMPORT_RUNS)]
    for index, (elapsed, details) in enumerate(runs, 1):
        print(f"import-to-ready run {index}: {elapsed:.3f} s (package imports "
              f"{details['imports_s']:.3f} s, litellm import {details['litellm_s']:.3f} s, "
              f"open with probes {details['open_s']:.3f} s; RSS when ready "
              f"{details['rss'] / 2**20:.1f} MB; node up: {details['node_up']})")
    seconds = [s for s, _ in runs]
    return {"import_to_ready_s": statistics.median(seconds),
            "import_to_ready_first_s": seconds[0],
            "ready_process_rss_mb": statistics.median(d["rss"] for _, d in runs) / 2**20}


# -- main ---------------------------------------------------------------------------------------

async def in_process(base_url: str, data_dir: Path, redis_url: str) -> dict[str, float]:
    figures = await overhead_runs(base_url, data_dir / "overhead")
    figures.update(await cache_runs(base_url, data_dir / "cache", redis_url))
    await load_litellm().close_litellm_async_clients()
    return figures


def main() -> int:
    quiet_logs()
    figures: dict[str, Any] = {"requests": N}
    with (
        loopback_only(),
        tempfile.TemporaryDirectory(prefix="homecrew-bench-") as tmp,
        ServerThread(lambda: OpenAIStandin(script=Script(reply=REPLY))) as node,
        RedisProcess() as redis,
    ):
        data_dir = Path(tmp)
        figures["rss_before_mb"] = rss_mb()
        figures.update(asyncio.run(in_process(node.base_url, data_dir, redis.url)))
        figures["rss_mb"] = rss_mb()
        print(f"this process's RSS: {figures['rss_before_mb']:.1f} MB before the stack, "
              f"{figures['rss_startup_mb']:.1f} MB with it open, {figures['rss_mb']:.1f} MB "
              "after the runs (includes the stand-in server thread)")
        figures.update(import_runs(node.base_url, data_dir))
    figures["cache_hit_target_p50_ms"] = CACHE_HIT_TARGET_MS
    figures["cache_hit_target_met"] = figures["cache_hit_p50_ms"] <= CACHE_HIT_TARGET_MS
    emit_json({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
