"""Fail-over cost over a long outage of the primary, against a tuned LiteLLM Router.

The seed's smart-agent route (MLX → Ollama → Claude) on loopback stand-ins. The MLX primary
fails in one of three ways, for the whole outage:

* ``dead``: nothing listens on its port (connection refused);
* ``hung``: it accepts connections and never sends a byte;
* ``wedged``: ``GET /v1/models`` answers, completions never do (how MLX servers usually fail).

Each scenario runs the same paced load (10 clients, each sending a streamed request every
``PACE_S``, open loop, distinct prompts, cache bypassed) for ``OUTAGE_S`` seconds through
(1) homecrew's chain with background probes, (2) a LiteLLM Router tuned as its docs advise
(``fallbacks`` per the route, ``allowed_fails: 1``, cool-down, ``timeout`` and
``stream_timeout``) and (3) a Router with default failure handling (the old baseline). The
cool-down and probe intervals are compressed 15× on both sides alike (product: cool-down 15 s,
probe every 3 s while down; here 1 s and 0.2 s), so one run spans many cool-down periods.
Then the primary comes back (``wedged``: restarted, down for ``RESTART_GAP_S``) and
``recovery_s`` is the time until a reply is served by it again.

Added latency of a request = its latency − the median latency of the same side with the
primary left out of the route (measured first, same load). ``ratio_vs_tuned_router`` =
homecrew's total added latency / the tuned Router's (same requests at the same times, so
the ratio of means is the same number). Target: each ≤ 0.1; ``recovery_s`` ≤
``probe_interval_open`` + 1.

Run from the repository root: ``.venv/bin/python bench/failover.py``. The last line is one
JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import contextlib
import io
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from _common import (
    PRODUCT_LEDGER,
    ask,
    drain,
    emit_json,
    loopback_only,
    plain_deployments,
    quiet_logs,
)

from inference._litellm import load_litellm
from inference.config import InferenceSettings
from inference.runtime import InferenceStack, route_nodes
from tests.support.stack import seed_like_settings
from tests.support.standins import (
    AnthropicStandin,
    BlackholeServer,
    OllamaStandin,
    OpenAIStandin,
    Script,
    ServerThread,
    refused_port,
)

Mode = Literal["dead", "hung", "wedged"]
MODES: tuple[Mode, ...] = ("dead", "hung", "wedged")
Side = Literal["homecrew", "tuned", "default"]
SIDES: tuple[Side, ...] = ("homecrew", "tuned", "default")
ROUTE = "smart-agent"
BASELINE_ROUTE = "without-primary"  # the same route minus its MLX primary
CLIENTS = 10
PACE_S = 1.0  # each client sends one request every PACE_S seconds (open loop)
OUTAGE_S = 32.0
CALIBRATE_S = 8.0
TIMEOUT_S = 1.0  # connect / first token / total, and the Router's timeout / stream_timeout
COOLDOWN_S = 1.0  # both sides (product: 15 s)
HEALTH: dict[str, Any] = {  # the product's health settings, compressed 15x
    "failure_threshold": 3, "cooldown": COOLDOWN_S, "cooldown_max": 8.0,
    "probe_interval": 1.0, "probe_interval_open": 0.2, "probe_timeout": TIMEOUT_S,
}
RESTART_GAP_S = 0.5  # a wedged server is restarted: down this long (a model reload, compressed)
RECOVERY_GUARD_S = 15.0
GUARD_S = 20.0  # a request that takes longer is abandoned (keeps the run bounded)
MLX_REPLY = "MLX answers."
REPLY = "Ollama answers quickly."
CLAUDE_REPLY = "Claude answers."
SERVED_BY = {MLX_REPLY: "mlx", REPLY: "ollama", CLAUDE_REPLY: "anthropic"}
TARGET_RATIO = 0.1

Call = Callable[[str], Awaitable[str]]  # prompt -> name of the node that answered


@dataclass(frozen=True, slots=True)
class Sample:
    started: float  # seconds since the phase began
    seconds: float
    served_by: str


@dataclass(slots=True)
class Run:
    """One side's run of one scenario."""

    side: str
    baseline_s: float
    outage: list[Sample] = field(default_factory=list)
    recovery_s: float | None = None
    primary_attempts: int | None = None

    @property
    def added_s(self) -> float:
        return sum(s.seconds - self.baseline_s for s in self.outage)

    @property
    def failures(self) -> int:
        return sum(s.served_by.startswith("error") for s in self.outage)


class Primary:
    """The MLX node's address: faulty in one of the modes, then healthy again."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.port = refused_port()
        self._server: ServerThread[Any] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail(self) -> None:
        port = self.port
        if self.mode == "hung":
            self._server = ServerThread(lambda: BlackholeServer(port=port)).__enter__()
        elif self.mode == "wedged":
            self._server = ServerThread(
                lambda: OpenAIStandin(script=Script.hang(), port=port)).__enter__()

    def attempts(self) -> int | None:
        """What reached the faulty primary: completion requests (wedged) or connections
        (hung; probes included); ``None`` when nothing listens (dead)."""
        server = self._server.server if self._server is not None else None
        if isinstance(server, OpenAIStandin):
            return len(server.requests_to("/v1/chat/completions"))
        if isinstance(server, BlackholeServer):
            return server.connections
        return None

    def recover(self) -> None:
        self._stop()
        if self.mode == "wedged":
            time.sleep(RESTART_GAP_S)
        port = self.port
        self._server = ServerThread(
            lambda: OpenAIStandin(script=Script(reply=MLX_REPLY), port=port)).__enter__()

    def close(self) -> None:
        self._stop()

    def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.__exit__(None, None, None)


# -- load --------------------------------------------------------------------------------------
async def paced_load(call: Call, tag: str, duration: float,
                     stop: asyncio.Event | None = None) -> list[Sample]:
    """``CLIENTS`` clients, each starting a request every ``PACE_S`` for ``duration`` s (or
    until ``stop``); returns every request once all have ended."""
    samples: list[Sample] = []
    began = time.perf_counter()

    async def one(text: str) -> None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(GUARD_S):
                who = await call(text)
        except Exception as exc:  # a failed request is counted, the run goes on
            who = f"error: {type(exc).__name__}"
        samples.append(Sample(started - began, time.perf_counter() - started, who))

    async with asyncio.TaskGroup() as group:
        for index in range(int(duration / PACE_S) * CLIENTS):
            due = began + (index // CLIENTS) * PACE_S + (index % CLIENTS) * PACE_S / CLIENTS
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if stop is not None and stop.is_set():
                break
            group.create_task(one(f"[{tag} #{index}] Summarise the homelab in one sentence."))
    return samples


async def recovery_time(call: Call, tag: str) -> float | None:
    """Keep the load on until a reply comes from the primary; seconds since it came back."""
    back = time.perf_counter()
    stop = asyncio.Event()
    seen: list[float] = []

    async def watched(text: str) -> str:
        who = await call(text)
        if who == "mlx" and not seen:
            seen.append(time.perf_counter() - back)
            stop.set()
        return who

    await paced_load(watched, tag, RECOVERY_GUARD_S, stop)
    return seen[0] if seen else None


def median(samples: list[Sample]) -> float:
    ordered = sorted(s.seconds for s in samples)
    return ordered[len(ordered) // 2] if ordered else 0.0


# -- homecrew ----------------------------------------------------------------------------------
def settings_for(primary_url: str, urls: tuple[str, str], data_dir: Path) -> InferenceSettings:
    settings = seed_like_settings(
        mlx_url=primary_url, ollama_url=urls[0], anthropic_url=urls[1], data_dir=data_dir,
        timeouts={"connect": TIMEOUT_S, "first_token": TIMEOUT_S, "total": TIMEOUT_S},
        health=HEALTH, ledger=PRODUCT_LEDGER,
    )
    routes = {**settings.routes, BASELINE_ROUTE: settings.routes[ROUTE][1:]}
    return settings.model_copy(update={"routes": routes})


def homecrew_call(stack: InferenceStack, route: str) -> Call:
    async def call(text: str) -> str:
        _, done = await drain(stack, ask(text, route))
        return done.node
    return call


async def homecrew_baseline(settings: InferenceSettings) -> float:
    nodes = route_nodes(settings, BASELINE_ROUTE)
    async with InferenceStack.open(settings, probe_nodes=nodes) as stack:
        call = homecrew_call(stack, BASELINE_ROUTE)
        await paced_load(call, "hc-warm", 2 * PACE_S)
        return median(await paced_load(call, "hc-base", CALIBRATE_S))


async def run_homecrew(
    primary: Primary, settings: InferenceSettings, baseline: float, outage: float
) -> Run:
    run = Run("homecrew", baseline)
    async with InferenceStack.open(settings) as stack:
        # a long-running process has probed its nodes long before its first request
        probed = route_nodes(settings, *settings.routes)
        async with asyncio.timeout(10):
            await stack.board.wait_for(lambda b: all(
                b.get(n).probed_at is not None for n in probed if settings.nodes[n].probed))
        call = homecrew_call(stack, ROUTE)
        run.outage = await paced_load(call, f"hc-{primary.mode}", outage)
        run.primary_attempts = primary.attempts()
        health = stack.board.get("mlx")
        print(f"  homecrew: mlx circuit {health.state}, {health.failed_trials} failed "
              f"trial(s) in a row, cool-down now {stack.board.cooldown_of('mlx'):g} s")
        await asyncio.to_thread(primary.recover)
        run.recovery_s = await recovery_time(call, f"hc-{primary.mode}-back")
    return run


# -- LiteLLM Router ----------------------------------------------------------------------------
def make_router(settings: InferenceSettings, route: str, *, tuned: bool) -> Any:
    litellm = load_litellm()
    model_list, fallbacks = plain_deployments(settings, route)
    if not tuned:  # the old baseline: only fallbacks and the timeouts, the rest default
        return litellm.Router(model_list=model_list, fallbacks=fallbacks, num_retries=0,
                              timeout=TIMEOUT_S, stream_timeout=TIMEOUT_S)
    # Tuned per LiteLLM's reliability docs: fallbacks to the next model group, a deployment
    # cooled down after its second failure (allowed_fails: 1) for cooldown_time, and
    # timeouts that decide fail-over. num_retries stays 0: a retry picks again inside the
    # same model group, and each group here has one deployment, so the docs' example of 2
    # retries only re-asks the failing primary (measured: ~8 s a request when it hangs).
    return litellm.Router(model_list=model_list, fallbacks=fallbacks, num_retries=0,
                          allowed_fails=1, cooldown_time=COOLDOWN_S,
                          timeout=TIMEOUT_S, stream_timeout=TIMEOUT_S)


def router_call(router: Any, route: str) -> Call:
    async def call(text: str) -> str:
        response = await router.acompletion(
            model=route, messages=[{"role": "user", "content": text}], stream=True)
        parts: list[str] = []
        async for chunk in response:
            for choice in chunk.choices or ():
                parts.append(getattr(choice.delta, "content", None) or "")
        reply = "".join(parts)
        if reply not in SERVED_BY:
            raise RuntimeError(f"unexpected reply {reply!r}")
        return SERVED_BY[reply]  # each node answers with its own text
    return call


async def router_baseline(settings: InferenceSettings, *, tuned: bool) -> float:
    router = make_router(settings, BASELINE_ROUTE, tuned=tuned)
    call = router_call(router, BASELINE_ROUTE)
    await paced_load(call, "router-warm", 2 * PACE_S)
    return median(await paced_load(call, "router-base", CALIBRATE_S))


async def run_router(primary: Primary, settings: InferenceSettings, baseline: float,
                     outage: float, *, tuned: bool) -> Run:
    name = "tuned Router" if tuned else "default Router"
    run = Run(name, baseline)
    router = make_router(settings, ROUTE, tuned=tuned)
    call = router_call(router, ROUTE)
    run.outage = await paced_load(call, f"{name}-{primary.mode}", outage)
    run.primary_attempts = primary.attempts()
    await asyncio.to_thread(primary.recover)
    run.recovery_s = await recovery_time(call, f"{name}-{primary.mode}-back")
    return run


# -- the bench ---------------------------------------------------------------------------------
def report(run: Run) -> None:
    served = Counter(s.served_by for s in run.outage)
    seconds = sorted(s.seconds for s in run.outage)
    slow = sum(s >= 0.9 * TIMEOUT_S for s in seconds)
    recovery = "not within the guard" if run.recovery_s is None else f"{run.recovery_s:.2f} s"
    print(f"  {run.side}: {len(seconds)} requests, added {run.added_s:.2f} s in total "
          f"(mean {1000 * run.added_s / max(len(seconds), 1):.1f} ms; baseline "
          f"{1000 * run.baseline_s:.1f} ms); {slow} waited ≥ {0.9 * TIMEOUT_S:g} s; max "
          f"{seconds[-1]:.2f} s; failures {run.failures}; served by {dict(served)}; "
          f"reached the faulty primary: {run.primary_attempts}; "
          f"primary used again after {recovery}")


async def run_side(side: Side, primary: Primary, settings: InferenceSettings,
                   baselines: dict[Side, float], outage: float) -> Run:
    if side == "homecrew":
        return await run_homecrew(primary, settings, baselines[side], outage)
    return await run_router(primary, settings, baselines[side], outage, tuned=side == "tuned")


async def scenario(mode: Mode, urls: tuple[str, str], data_dir: Path,
                   baselines: dict[Side, float], outage: float) -> dict[str, Any]:
    """The three sides one after the other (so that none slows another down), each with
    its own faulty primary, under the same load."""
    print(f"scenario {mode}:")
    runs: dict[Side, Run] = {}
    for side in SIDES:
        primary = Primary(mode)
        try:
            await asyncio.to_thread(primary.fail)
            settings = settings_for(primary.url, urls, data_dir / f"{mode}-{side}")
            runs[side] = await run_side(side, primary, settings, baselines, outage)
        finally:
            await asyncio.to_thread(primary.close)
    for run in runs.values():
        report(run)
    homecrew, tuned, default = runs["homecrew"], runs["tuned"], runs["default"]
    figures = {
        "ratio_vs_tuned_router": ratio(homecrew.added_s, tuned.added_s),
        "ratio_vs_default_router": ratio(homecrew.added_s, default.added_s),
        "recovery_s": rounded(homecrew.recovery_s),
        "homecrew_added_s": round(homecrew.added_s, 3),
        "tuned_router_added_s": round(tuned.added_s, 3),
        "default_router_added_s": round(default.added_s, 3),
        "requests_per_side": len(homecrew.outage),
        "homecrew_failures": homecrew.failures,
        "tuned_router_failures": tuned.failures,
        "tuned_router_recovery_s": rounded(tuned.recovery_s),
        "primary_attempts": {"homecrew": homecrew.primary_attempts,
                             "tuned_router": tuned.primary_attempts,
                             "default_router": default.primary_attempts},
    }
    print(f"  ratio vs tuned Router {figures['ratio_vs_tuned_router']} (target ≤ "
          f"{TARGET_RATIO}); vs default Router {figures['ratio_vs_default_router']}; "
          f"recovery {figures['recovery_s']} s")
    return figures


def ratio(ours: float, theirs: float) -> float | None:
    return round(max(ours, 0.0) / theirs, 5) if theirs > 0 else None


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def warm_up(urls: tuple[str, str]) -> None:
    """One untimed call through LiteLLM so neither side pays its lazy imports."""
    litellm = load_litellm()
    response = await litellm.acompletion(
        model="ollama_chat/qwen2.5:14b", api_base=urls[0], stream=True, timeout=10,
        messages=[{"role": "user", "content": "warm up"}],
    )
    async for _ in response:
        pass


async def bench(urls: tuple[str, str], data_dir: Path, outage: float) -> dict[str, Any]:
    await warm_up(urls)
    try:
        calibration = settings_for(f"http://127.0.0.1:{refused_port()}/v1", urls, data_dir)
        baselines: dict[Side, float] = {
            "homecrew": await homecrew_baseline(calibration),
            "tuned": await router_baseline(calibration, tuned=True),
            "default": await router_baseline(calibration, tuned=False),
        }
        print("baselines (route without the primary, same load): " + ", ".join(
            f"{side} {1000 * value:.1f} ms" for side, value in baselines.items()))
        scenarios = {mode: await scenario(mode, urls, data_dir, baselines, outage)
                     for mode in MODES}
    finally:
        await load_litellm().close_litellm_async_clients()
    recoveries = [s["recovery_s"] for s in scenarios.values()]
    target = HEALTH["probe_interval_open"] + 1
    return {
        "clients": CLIENTS, "pace_s": PACE_S, "outage_s": outage, "timeout_s": TIMEOUT_S,
        "cooldown_s": COOLDOWN_S, "probe_interval_open_s": HEALTH["probe_interval_open"],
        "cooldown_periods": int(outage / COOLDOWN_S),
        "scenarios": scenarios,
        "target_ratio": TARGET_RATIO,
        "recovery_s": None if None in recoveries else max(recoveries),
        "recovery_target_s": target,
        "baseline_ms": {side: round(1000 * value, 2) for side, value in baselines.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--outage", type=float, default=OUTAGE_S,
                        help=f"seconds of outage per side and scenario (default {OUTAGE_S:g})")
    outage = parser.parse_args().outage
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines as they come
    quiet_logs()
    with (
        loopback_only(),
        tempfile.TemporaryDirectory(prefix="homecrew-bench-") as data_dir,
        contextlib.ExitStack() as servers,
    ):
        ollama = servers.enter_context(ServerThread(
            lambda: OllamaStandin(script=Script(reply=REPLY))))
        claude = servers.enter_context(ServerThread(
            lambda: AnthropicStandin(script=Script(reply=CLAUDE_REPLY))))
        figures = asyncio.run(bench((ollama.base_url, claude.base_url), Path(data_dir), outage))
        print(f"claude stand-in got {len(claude.server.requests_to('/v1/messages'))} "
              f"request(s)")
    emit_json(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
