"""Fail-over cost: a primary that accepts connections and never answers.

The seed's smart-agent route (MLX → Ollama → Claude) on loopback stand-ins, where the MLX
primary is a black hole. 20 sequential streamed requests (distinct prompts, cache bypassed)
go through homecrew's chain (background probes on, as in the product) and, in the same run,
through a plain ``litellm.Router`` with the same deployments, fallbacks and 2 s timeouts.

Run from the repository root: ``.venv/bin/python bench/failover.py``. The last line is one
JSON object; target: ``ratio`` (homecrew total / plain total) ≤ 0.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from _common import (
    PRODUCT_HEALTH,
    PRODUCT_LEDGER,
    Outcome,
    Stats,
    ask,
    emit_json,
    loopback_only,
    plain_deployments,
    quiet_logs,
    timed_drain,
)

from inference._litellm import load_litellm
from inference.config import InferenceSettings
from inference.runtime import InferenceStack
from tests.support.stack import seed_like_settings
from tests.support.standins import (
    AnthropicStandin,
    BlackholeServer,
    OllamaStandin,
    Script,
    ServerThread,
)

ROUTE = "smart-agent"
REQUESTS = 20
TIMEOUT_S = 2.0
GUARD_S = 20.0  # a request that takes longer than this is abandoned (keeps the run bounded)
REPLY = "Ollama answers quickly."
TARGET_RATIO = 0.1


@dataclass(frozen=True, slots=True)
class Side:
    """One side's requests: per-request wall times and who served each."""

    name: str
    seconds: list[float]
    served_by: list[str]
    failures: int = 0
    ready_s: float = 0.0

    @property
    def stats(self) -> Stats:
        return Stats.of(self.seconds)


@dataclass(frozen=True, slots=True)
class Endpoints:
    mlx: str
    ollama: str
    anthropic: str


def prompt(side: str, index: int) -> str:
    return f"[{side} #{index}] Summarise the state of the homelab in one sentence."


def bench_settings(urls: Endpoints, data_dir: Path) -> InferenceSettings:
    return seed_like_settings(
        mlx_url=urls.mlx, ollama_url=urls.ollama, anthropic_url=urls.anthropic,
        data_dir=data_dir,
        timeouts={"connect": TIMEOUT_S, "first_token": TIMEOUT_S, "total": TIMEOUT_S},
        health=PRODUCT_HEALTH, ledger=PRODUCT_LEDGER,
    )


async def warm_up(urls: Endpoints) -> None:
    """One untimed call through LiteLLM so neither side pays its lazy imports."""
    litellm = load_litellm()
    response = await litellm.acompletion(
        model="ollama_chat/qwen2.5:14b", api_base=urls.ollama, stream=True, timeout=10,
        messages=[{"role": "user", "content": "warm up"}],
    )
    async for _ in response:
        pass


async def run_homecrew(settings: InferenceSettings, name: str, *, probes: bool) -> Side:
    opened = time.perf_counter()
    seconds: list[float] = []
    served: list[str] = []
    failures = 0
    async with InferenceStack.open(settings, probes=probes) as stack:
        ready = time.perf_counter() - opened
        mlx = stack.health()["mlx"]
        print(f"  {name}: ready in {ready:.3f} s; mlx circuit at ready: {mlx.state}"
              f" ({mlx.last_error or 'no error'})")
        for index in range(REQUESTS):
            started = time.perf_counter()
            try:
                async with asyncio.timeout(GUARD_S):
                    outcome: Outcome = await timed_drain(stack, ask(prompt(name, index), ROUTE))
            except Exception as exc:  # a failed request is counted, the run goes on
                failures += 1
                seconds.append(time.perf_counter() - started)
                served.append(f"error: {type(exc).__name__}")
                continue
            seconds.append(outcome.seconds)
            served.append(f"{outcome.done.node} (depth {outcome.done.fallback_depth})")
    return Side(name, seconds, served, failures, ready)


async def run_plain(settings: InferenceSettings) -> Side:
    litellm = load_litellm()
    model_list, fallbacks = plain_deployments(settings, ROUTE)
    router = litellm.Router(model_list=model_list, fallbacks=fallbacks, num_retries=0,
                            timeout=TIMEOUT_S, stream_timeout=TIMEOUT_S)
    seconds: list[float] = []
    served: list[str] = []
    failures = 0
    for index in range(REQUESTS):
        started = time.perf_counter()
        try:
            async with asyncio.timeout(GUARD_S):
                who = await _plain_request(router, prompt("plain", index))
        except Exception as exc:  # a failed request is counted, the run goes on
            failures += 1
            who = f"error: {type(exc).__name__}"
        seconds.append(time.perf_counter() - started)
        served.append(who)
    return Side("plain litellm.Router", seconds, served, failures)


async def _plain_request(router: Any, text: str) -> str:
    response = await router.acompletion(
        model=ROUTE, messages=[{"role": "user", "content": text}], stream=True
    )
    parts: list[str] = []
    async for chunk in response:
        for choice in chunk.choices or ():
            parts.append(getattr(choice.delta, "content", None) or "")
    if "".join(parts) != REPLY:
        raise RuntimeError(f"unexpected reply {''.join(parts)!r}")
    hidden = getattr(response, "_hidden_params", None) or {}
    return str(hidden.get("api_base") or hidden.get("model_id") or "?")


def report(side: Side, urls: Endpoints) -> None:
    stats = side.stats
    names = {urls.mlx: "mlx", urls.ollama: "ollama", urls.anthropic: "anthropic"}
    served = Counter(names.get(s, s) for s in side.served_by)
    print(f"{side.name}: total {stats.total:.3f} s over {stats.count} requests; "
          f"p50 {stats.p50:.4f} s, max {stats.max:.4f} s, min {stats.min:.4f} s; "
          f"failures {side.failures}; served by {dict(served)}")
    print("  per request (s): " + " ".join(f"{s:.3f}" for s in side.seconds))


async def bench(urls: Endpoints, data_dir: Path) -> dict[str, Any]:
    settings = bench_settings(urls, data_dir)
    await warm_up(urls)
    try:
        print("homecrew chain (background probes on, product health settings):")
        homecrew = await run_homecrew(settings, "homecrew", probes=True)
        report(homecrew, urls)
        first = homecrew.seconds[0]
        paid = first >= 0.9 * TIMEOUT_S
        print(f"  first request {'PAID' if paid else 'did not pay'} the {TIMEOUT_S:g} s timeout "
              f"({first:.3f} s); start-up (initial probe round) took {homecrew.ready_s:.3f} s")
        print("plain litellm.Router (same deployments, fallbacks, timeout/stream_timeout 2 s):")
        plain = await run_plain(settings)
        report(plain, urls)
        print("for reference, homecrew with probes off (circuit breaker only):")
        no_probes = await run_homecrew(settings, "homecrew-no-probes", probes=False)
        report(no_probes, urls)
    finally:
        await load_litellm().close_litellm_async_clients()
    ratio = homecrew.stats.total / plain.stats.total
    print(f"ratio homecrew/plain = {ratio:.4f} (target ≤ {TARGET_RATIO}); "
          f"{'MET' if ratio <= TARGET_RATIO else 'MISSED'}; probes-off ratio "
          f"{no_probes.stats.total / plain.stats.total:.4f}")
    return {
        "requests": REQUESTS,
        "homecrew_total_s": round(homecrew.stats.total, 4),
        "plain_litellm_total_s": round(plain.stats.total, 4),
        "ratio": round(ratio, 5),
        "target_ratio": TARGET_RATIO,
        "homecrew_p50_s": round(homecrew.stats.p50, 5),
        "plain_p50_s": round(plain.stats.p50, 5),
    }


def main() -> int:
    quiet_logs()
    with (
        loopback_only(),
        tempfile.TemporaryDirectory(prefix="homecrew-bench-") as data_dir,
        contextlib.ExitStack() as servers,
    ):
        hole = servers.enter_context(ServerThread(BlackholeServer))
        ollama = servers.enter_context(ServerThread(
            lambda: OllamaStandin(script=Script(reply=REPLY))))
        claude = servers.enter_context(ServerThread(
            lambda: AnthropicStandin(script=Script(reply="Claude answers."))))
        urls = Endpoints(f"{hole.base_url}/v1", ollama.base_url, claude.base_url)
        figures = asyncio.run(bench(urls, Path(data_dir)))
        print(f"black hole accepted {hole.server.connections} connection(s); "
              f"claude stand-in got {len(claude.server.requests_to('/v1/messages'))} request(s)")
    emit_json(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
