"""homecrew's MLX daemon against the peer ``mlx_lm.server`` on the same two tiny models.

Run: ``.venv/bin/python bench/mlx_daemon.py [--requests 40] [--max-tokens 4] [--rounds 4]``.

Both servers run as subprocesses on 127.0.0.1 at the same time and get identical requests
(greedy, non-streamed, same prompt and ``max_tokens``). Measurements are interleaved
round by round (daemon, peer, peer, daemon, ...) so load from other processes on the
machine falls on both alike.

(a) p50 latency of short requests alternating between model a and model b. The peer
    serves one model at a time, so it reloads on every switch (it is started on a; b is
    named by its path). The daemon keeps both resident. Target: >= 3x faster than the
    peer. The same-model p50 of both is measured too, so the switch cost itself shows.
(b) throughput (completion tokens/s) of N concurrent requests to model a: the median
    burst (the best one is reported too).
    Target: >= the peer's. (The peer's HTTP/1.0 server resets some connections of a
    burst; those requests are retried and counted in ``connection_retries``.)
(c) RSS of each server process after the runs.

Prints readable lines, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

PROMPT = [{"role": "user", "content": "Check the disk usage and tell me when it is back online."}]
_RETRIED = (httpx.ReadError, httpx.ConnectError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Target:
    name: str
    root_url: str
    pid: int
    model_a: str
    model_b: str


@dataclass
class Figures:
    """Samples of one server, gathered over the interleaved rounds."""

    same: list[float] = field(default_factory=list)
    alternating: list[float] = field(default_factory=list)
    bursts: list[float] = field(default_factory=list)
    retries: int = 0

    def summary(self, pid: int) -> dict[str, Any]:
        return {
            "same_model_p50_ms": round(statistics.median(self.same) * 1000, 2),
            "alternating_p50_ms": round(statistics.median(self.alternating) * 1000, 2),
            "throughput_tok_s": round(statistics.median(self.bursts), 1),
            "throughput_best_tok_s": round(max(self.bursts), 1),
            "rss_mib": round(psutil.Process(pid).memory_info().rss / 2**20, 1),
            "connection_retries": self.retries,
        }


def _repo_root_on_path() -> None:
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)


async def _ask(
    client: httpx.AsyncClient, model: str, max_tokens: int, figures: Figures | None = None
) -> dict[str, Any]:
    body = {"model": model, "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0.0}
    for attempt in range(5):
        try:
            response = await client.post("/v1/chat/completions", json=body)
            break
        except _RETRIED:
            if attempt == 4:
                raise
            if figures is not None:
                figures.retries += 1
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


async def sequential(
    client: httpx.AsyncClient, target: Target, requests: int, max_tokens: int, alternate: bool
) -> list[float]:
    """Seconds per request: b, a, b, a... (``alternate``) or a, a, a..."""
    latencies = []
    for i in range(requests):
        model = target.model_b if alternate and i % 2 == 0 else target.model_a
        began = time.perf_counter()
        await _ask(client, model, max_tokens)
        latencies.append(time.perf_counter() - began)
    return latencies


async def burst(
    client: httpx.AsyncClient, target: Target, args: argparse.Namespace, figures: Figures
) -> float:
    """Completion tokens/s of ``args.concurrency`` simultaneous requests to model a."""
    began = time.perf_counter()
    answers = await asyncio.gather(
        *(_ask(client, target.model_a, args.burst_tokens, figures)
          for _ in range(args.concurrency))
    )  # fmt: skip
    elapsed = time.perf_counter() - began
    tokens: int = sum(a["usage"]["completion_tokens"] for a in answers)
    return tokens / elapsed


async def one_round(
    target: Target, args: argparse.Namespace, figures: Figures, per_round: int
) -> None:
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=target.root_url, timeout=120, limits=limits) as client:
        for model in (target.model_a, target.model_b, target.model_a):  # warm up
            await _ask(client, model, args.max_tokens)
        figures.same += await sequential(client, target, per_round, args.max_tokens, False)
        figures.alternating += await sequential(client, target, per_round, args.max_tokens, True)
        await _ask(client, target.model_a, args.max_tokens)  # the peer: back on model a
        figures.bursts.append(await burst(client, target, args, figures))


def _daemon_config(directory: Path, a: Path, b: Path, batch: int) -> Path:
    config = directory / "homecrew.yaml"
    config.write_text(
        "mlx_daemon:\n"
        "  host: 127.0.0.1\n"
        "  port: ${BENCH_PORT}\n"
        f"  max_batch_size: {batch}\n"
        "  preload: [tiny-a, tiny-b]\n"
        f"  log_file: {directory / 'mlx-api.log'}\n"
        "  models:\n"
        f"    tiny-a: {{path: {a}}}\n"
        f"    tiny-b: {{path: {b}}}\n",
        encoding="utf-8",
    )
    return config


def _ready(root_url: str) -> bool:
    try:
        return bool(httpx.get(f"{root_url}/health", timeout=2).json().get("ready"))
    except (httpx.HTTPError, ValueError):
        return False


async def run(args: argparse.Namespace) -> dict[str, Any]:
    _repo_root_on_path()
    from tests.support.processes import ManagedProcess, free_port
    from tests.support.tiny_mlx import MlxLmServer, build_tiny_models

    with tempfile.TemporaryDirectory(prefix="bench-mlx-daemon-") as tmp:
        models = build_tiny_models(Path(tmp) / "models")
        config = _daemon_config(Path(tmp), models.a, models.b, args.concurrency)
        port = free_port()
        root = f"http://127.0.0.1:{port}"
        daemon = ManagedProcess(
            [sys.executable, "-m", "mlx_daemon", "serve", "--config", str(config)],
            ready=lambda: _ready(root), env={"BENCH_PORT": str(port), "HF_HUB_OFFLINE": "1"},
            timeout=120, name="mlx-daemon",
        )  # fmt: skip
        peer = MlxLmServer(models.a)
        with daemon, peer:
            targets = [
                Target("homecrew", root, daemon.pid, "tiny-a", "tiny-b"),
                Target("mlx_lm", peer.root_url, peer.pid, peer.model_id,
                       str(models.b.resolve())),
            ]  # fmt: skip
            figures = {t.name: Figures() for t in targets}
            per_round = max(2, args.requests // args.rounds)
            for i in range(args.rounds):
                for target in targets if i % 2 == 0 else targets[::-1]:
                    await one_round(target, args, figures[target.name], per_round)
            results = {t.name: figures[t.name].summary(t.pid) for t in targets}
    for name, figure in results.items():
        print(f"{name:>9}: same-model p50 {figure['same_model_p50_ms']:6.2f} ms | "
              f"alternating p50 {figure['alternating_p50_ms']:6.2f} ms | "
              f"{args.concurrency} concurrent {figure['throughput_tok_s']:8.1f} tok/s | "
              f"RSS {figure['rss_mib']:6.1f} MiB")  # fmt: skip
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40,
                        help="sequential requests per server and pattern")  # fmt: skip
    parser.add_argument(
        "--max-tokens", type=int, default=4,
        help="tokens per sequential request (short replies: ~10 ms unswitched, as in the issue)",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--burst-tokens", type=int, default=128, help="tokens per burst request")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    ours, peer = results["homecrew"], results["mlx_lm"]
    speedup = peer["alternating_p50_ms"] / ours["alternating_p50_ms"]
    ratio = ours["throughput_tok_s"] / peer["throughput_tok_s"]
    summary = {
        **{f"homecrew_{k}": v for k, v in ours.items()},
        **{f"mlx_lm_{k}": v for k, v in peer.items()},
        "max_tokens": args.max_tokens,
        "concurrency": args.concurrency,
        "alternating_speedup": round(speedup, 2),
        "throughput_ratio": round(ratio, 2),
        "rss_ratio": round(ours["rss_mib"] / peer["rss_mib"], 2),
        "alternating_target_met": speedup >= 3.0,
        "throughput_target_met": ratio >= 1.0,
    }
    print(f"alternating: homecrew is {speedup:.1f}x faster (target >= 3x); "
          f"throughput ratio {ratio:.2f} (target >= 1)")  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
