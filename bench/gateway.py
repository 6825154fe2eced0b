"""One endpoint for every tool: homecrew's gateway vs the LiteLLM proxy vs a bare aiohttp floor.

Every system serves the same model node (``bench/_node.py``: OpenAI-compatible, 20 streamed
content chunks a reply with usage, no delay) and runs in a process of its own:

* ``homecrew serve`` — one route whose one step is the node; no keys (loopback); no Redis,
  so the in-process cache the product falls back to, and every prompt unique (each request
  a miss the chain serves and the cache stores); the ledger in a temporary SQLite file
  (``ledger.database_url``);
* the LiteLLM proxy with one worker (``--num_workers 1``), from its own venv
  (``make bench-venv``; ``--litellm-python .venv-bench/bin/python``), configured for speed
  as its production docs advise (see bench/README.md);
* ``bench/_passthrough.py`` — a bare aiohttp pass-through: the Python floor.

The load comes from separate processes (``bench/_load.py``). With two CPUs or more the
system under test runs on the first and the node and the load generator on the others (one
core for each system, as with one worker; ``--no-pin`` leaves placement to the kernel).

Figures, per system:

* ``startup_s`` — spawning the process → the first 200 on ``GET /v1/models``;
* ``added_p50_ms`` / ``added_p99_ms`` — concurrency 1, streamed requests read to
  ``[DONE]``: the time through the system minus the time of the same round's request sent
  directly to the node (every round sends one request to each, in rotating order);
* ``rps`` — concurrency 64, closed loop, streamed requests read to ``[DONE]``: requests
  completed per second over ``--duration`` seconds after a warm-up; ``errors``;
* ``cpu_ms_per_request`` — the process's CPU time (with any children) during its load
  runs, per request completed (steadier than ``rps`` on a shared machine);
* ``rss_mb`` — the process's RSS (with any children) after its load; ``rss_idle_mb`` after
  start-up.

The last line is one JSON object with them, and ``rps_ratio_vs_litellm_proxy`` (homecrew's
rps / the proxy's; target ≥ 5) and ``p50_ratio_vs_litellm_proxy`` (homecrew's added p50 /
the proxy's; target ≤ 0.2). Run from the repository root:
``.venv/bin/python bench/gateway.py --litellm-python .venv-bench/bin/python``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import contextlib
import http.client
import importlib.util
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from typing import Any

import _load
import _node
import psutil
from _common import Stats, emit_json, loopback_only, ms, offline_env

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
ROUTE = "bench"
RPS_TARGET, P50_TARGET = 5.0, 0.2
STARTUP_TIMEOUT_S = 240.0
LITELLM = "litellm_proxy"
HOMECREW = "homecrew"
FLOOR = "aiohttp_passthrough"


@dataclass
class Server:
    """A system under test, as a command line; filled in once it runs."""

    name: str
    argv: list[str]
    model: str
    env: dict[str, str] = field(default_factory=offline_env)
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def target(self) -> _load.Target:
        return _load.Target(self.name, self.base_url, self.model)


# -- processes ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def placement(pinned: bool) -> tuple[frozenset[int], frozenset[int]]:
    """The CPUs of the system under test and those of the node and the load generator."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not pinned or len(cpus) < 2:
        return frozenset(), frozenset()
    return frozenset(cpus[:1]), frozenset(cpus[1:])


def pin(pid: int, cpus: frozenset[int]) -> None:
    """Keep a just-spawned process (and the threads it starts) on ``cpus`` (empty: don't)."""
    if cpus:
        os.sched_setaffinity(pid, cpus)


def start(server: Server, cpus: frozenset[int], logs: Path) -> None:
    """Spawn ``server`` and wait for its first 200 on ``GET /v1/models``: ``startup_s``."""
    server.port = free_port()
    argv = [part.replace("{port}", str(server.port)) for part in server.argv]
    server.log = logs / f"{server.name}.log"
    with server.log.open("wb") as log:
        started = time.perf_counter()
        server.process = subprocess.Popen(
            argv, cwd=ROOT, env=server.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        pin(server.process.pid, cpus)
    deadline = started + STARTUP_TIMEOUT_S
    while (status := _get_status(server.port, "/v1/models")) != 200:
        if server.process.poll() is not None or time.perf_counter() > deadline:
            stop(server)
            raise RuntimeError(f"{server.name} did not start (status {status}); its log:\n"
                               + _tail(server.log))
        time.sleep(0.02)
    server.figures["startup_s"] = time.perf_counter() - started
    server.figures["rss_idle_mb"] = rss_mb(server.process.pid)


def _get_status(port: int, path: str) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop(server: Server) -> None:
    process = server.process
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def rss_mb(pid: int) -> float:
    """RSS of a process and its children, in MiB."""
    root = psutil.Process(pid)
    total = root.memory_info().rss
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total / 2**20


@contextlib.contextmanager
def node_process(cpus: frozenset[int], chunk_delay: float) -> Iterator[str]:
    """The model node in a process of its own; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "_node.py"), "--chunk-delay", str(chunk_delay)],
        cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    pin(process.pid, cpus)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the node did not start")
        yield f"http://127.0.0.1:{json.loads(line)['port']}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the systems --------------------------------------------------------------------------------

def passthrough_server(node_url: str) -> Server:
    return Server(FLOOR, [sys.executable, str(BENCH / "_passthrough.py"), "--upstream", node_url,
                          "--port", "{port}"], _node.MODEL)


def litellm_server(python: str, node_url: str, workdir: Path) -> Server:
    """The LiteLLM proxy, one worker, tuned per its production docs (bench/README.md)."""
    config = {
        "model_list": [{"model_name": ROUTE, "litellm_params": {
            "model": f"openai/{_node.MODEL}", "api_base": f"{node_url}/v1", "api_key": "none"}}],
        "litellm_settings": {"set_verbose": False, "json_logs": False, "callbacks": [],
                             "success_callback": [], "failure_callback": [],
                             "num_retries": 0, "request_timeout": 600},
        # No database (no DATABASE_URL): no spend logs, error logs or key lookups; no master
        # key, like homecrew without keys on loopback (the proxy wants that said explicitly).
        "general_settings": {"disable_spend_logs": True, "disable_error_logs": True,
                             "dangerously_permit_weak_or_unset_master_key": True},
    }
    path = workdir / "litellm.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    env = offline_env()
    for name in ("DATABASE_URL", "LITELLM_MASTER_KEY", "REDIS_HOST", "REDIS_URL"):
        env.pop(name, None)
    env.update({"LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"})
    argv = [python, "-c", "from litellm_cli.main import proxy_server; proxy_server()",
            "--config", str(path), "--host", "127.0.0.1", "--port", "{port}",
            "--num_workers", "1"]
    return Server(LITELLM, argv, ROUTE, env=env)


def homecrew_available() -> bool:
    return importlib.util.find_spec("homecrew.commands.gateway_commands") is not None


def homecrew_server(node_url: str, workdir: Path) -> Server:
    """``homecrew serve``: one route, one step (the node); no keys, no Redis (the in-process
    cache, never hit: every prompt is unique), the ledger in a temporary SQLite file."""
    config = {
        "data_dir": str(workdir / "homecrew-data"),
        "nodes": {"node": {"kind": "openai", "base_url": f"{node_url}/v1"}},
        "models": {"node-model": {"node": "node", "model": _node.MODEL}},
        "routes": {ROUTE: ["node-model"]},
        "cache": {"redis_url": None},
        "ledger": {"database_url": f"sqlite:///{workdir / 'homecrew-ledger.sqlite3'}"},
        "gateway": {"host": "127.0.0.1"},
    }
    path = workdir / "homecrew.yaml"
    path.write_text(json.dumps(config, indent=2))
    env = offline_env()
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, "-m", "homecrew.cli", "serve", "--config", str(path),
            "--host", "127.0.0.1", "--port", "{port}"]
    return Server(HOMECREW, argv, ROUTE, env=env)


# -- the runs -----------------------------------------------------------------------------------

def latency_phase(pool: Pool, servers: list[Server], node_url: str, rounds: int,
                  warmup: int) -> dict[str, float]:
    direct = _load.Target("direct", node_url, _node.MODEL)
    targets = [direct, *(s.target() for s in servers)]
    times: dict[str, list[float]] = pool.apply(
        _load.latency_rounds, (targets, rounds, warmup, _node.REPLY_TEXT))
    base = Stats.of(times["direct"])
    print(f"concurrency 1, direct to the node:  {base.line_ms()}")
    for server in servers:
        own = times[server.name]
        added = Stats.of([t - d for t, d in zip(own, times["direct"], strict=True)])
        print(f"concurrency 1, {server.name:20s} {Stats.of(own).line_ms()}")
        print(f"    added (minus direct, per round): {added.line_ms()}")
        server.figures.update({"p50_ms": ms(Stats.of(own).p50), "p99_ms": ms(Stats.of(own).p99),
                               "added_p50_ms": ms(added.p50), "added_p99_ms": ms(added.p99)})
    return {"direct_p50_ms": ms(base.p50), "direct_p99_ms": ms(base.p99)}


@dataclass(frozen=True, slots=True)
class Load:
    """The throughput run's shape: ``concurrency`` split over ``procs`` processes, each
    target measured for ``duration`` seconds in all, in ``rounds`` windows."""

    procs: int
    concurrency: int
    warmup: float
    duration: float
    rounds: int


def throughput(pool: Pool, target: _load.Target, load: Load) -> list[_load.Throughput]:
    """One window of ``load.duration / load.rounds`` seconds on ``target``."""
    procs, concurrency = load.procs, load.concurrency
    shares = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    window = load.duration / load.rounds
    return pool.starmap(_load.throughput,
                        [(target, share, load.warmup, window) for share in shares])


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of a process and its children so far; 0 without one."""
    if pid is None:
        return 0.0
    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def throughput_phase(pool: Pool, targets: list[tuple[_load.Target, int | None]], load: Load,
                     on_done: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Every target (and its server's pid) in turn, ``load.rounds`` times (the order
    rotating), so that other load on the machine falls on all alike; requests/s over all of
    a target's windows, and the server's CPU time per request (a figure the machine's other
    load moves far less than requests/s)."""
    results: dict[str, list[_load.Throughput]] = {t.name: [] for t, _ in targets}
    cpu: dict[str, float] = {t.name: 0.0 for t, _ in targets}
    for index in range(load.rounds):
        shift = index % len(targets)
        for target, pid in targets[shift:] + targets[:shift]:
            before = cpu_seconds(pid)
            results[target.name] += throughput(pool, target, load)
            cpu[target.name] += cpu_seconds(pid) - before
    for target, _ in targets:
        on_done(target.name)
    figures = {}
    for name, parts in results.items():
        errors = sum(r.errors for r in parts)
        first_error = next((r.first_error for r in parts if r.first_error), None)
        rps = sum(r.completed for r in parts) / load.duration
        per_request = ms(cpu[name] / max(1, sum(r.total for r in parts)))
        line = f"concurrency {load.concurrency}, {name:20s} {rps:8.1f} requests/s"
        if cpu[name]:
            line += f"  CPU {per_request:.2f} ms a request"
        print(line + (f"  ({errors} errors, first: {first_error})" if errors else ""))
        figures[name] = {"rps": rps, "errors": errors}
        if cpu[name]:
            figures[name]["cpu_ms_per_request"] = per_request
    return figures


def figures_json(servers: list[Server], extra: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(extra)
    for server in servers:
        out[server.name] = {k: round(v, 3) if isinstance(v, float) else v
                            for k, v in server.figures.items()}
    homecrew, peer = out.get(HOMECREW), out.get(LITELLM)
    rps_ratio = p50_ratio = None
    if homecrew and peer and peer.get("rps"):
        rps_ratio = round(homecrew["rps"] / peer["rps"], 3)
    if homecrew and peer and peer.get("added_p50_ms", 0) > 0:
        p50_ratio = round(max(homecrew["added_p50_ms"], 0.0) / peer["added_p50_ms"], 3)
    floor = out.get(FLOOR)
    if floor and peer and peer.get("rps"):
        out["floor_rps_ratio_vs_litellm_proxy"] = round(floor["rps"] / peer["rps"], 3)
    out.update({
        "rps_ratio_vs_litellm_proxy": rps_ratio, "p50_ratio_vs_litellm_proxy": p50_ratio,
        "rps_ratio_target": RPS_TARGET, "p50_ratio_target": P50_TARGET,
        "targets_met": (None if rps_ratio is None or p50_ratio is None
                        else rps_ratio >= RPS_TARGET and p50_ratio <= P50_TARGET),
    })
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--litellm-python", metavar="PATH",
                        help="the bench venv's python (make bench-venv); without it the "
                        "LiteLLM proxy is left out and the ratios are null")
    parser.add_argument("--no-homecrew", action="store_true",
                        help="leave `homecrew serve` out")
    parser.add_argument("--rounds", type=int, default=300,
                        help="concurrency-1 rounds (after 30 warm-up rounds)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds measured per system at --concurrency, in all")
    parser.add_argument("--rps-rounds", type=int, default=3,
                        help="windows the --duration is split into (systems take turns)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of load before each measured window")
    parser.add_argument("--load-procs", type=int, default=1,
                        help="load-generator processes sharing --concurrency")
    parser.add_argument("--chunk-delay", type=float, default=0.0,
                        help="the node's pause between chunks (s)")
    parser.add_argument("--no-pin", action="store_true",
                        help="leave CPU placement to the kernel")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    server_cpus, load_cpus = placement(not args.no_pin)
    extra: dict[str, Any] = {
        "node_chunks": _node.CHUNKS, "concurrency": args.concurrency,
        "duration_s": args.duration, "rounds": args.rounds, "load_procs": args.load_procs,
        "pinned": bool(server_cpus), "homecrew_ledger": "sqlite (temporary file)"}
    context = multiprocessing.get_context("spawn")
    with (
        loopback_only(),
        tempfile.TemporaryDirectory(prefix="homecrew-bench-gw-") as tmp,
        node_process(load_cpus, args.chunk_delay) as node_url,
        context.Pool(args.load_procs, initializer=_load.pin, initargs=(load_cpus,)) as pool,
    ):
        workdir = Path(tmp)
        servers = [passthrough_server(node_url)]
        if args.litellm_python:
            servers.append(litellm_server(args.litellm_python, node_url, workdir))
        else:
            print("no --litellm-python: the LiteLLM proxy is left out")
        if args.no_homecrew:
            print("--no-homecrew: homecrew serve is left out")
        elif homecrew_available():
            servers.append(homecrew_server(node_url, workdir))
        else:
            print("homecrew serve is not on this branch yet: left out")
        try:
            for server in servers:
                start(server, server_cpus, workdir)
                print(f"{server.name}: up in {server.figures['startup_s']:.2f} s, RSS "
                      f"{server.figures['rss_idle_mb']:.1f} MB")
            extra.update(latency_phase(pool, servers, node_url, args.rounds, 30))
            load = Load(args.load_procs, args.concurrency, args.warmup, args.duration,
                        args.rps_rounds)
            direct = _load.Target("direct", node_url, _node.MODEL)
            by_name = {s.name: s for s in servers}

            def after_load(name: str) -> None:
                if (server := by_name.get(name)) is not None and server.process is not None:
                    server.figures["rss_mb"] = rss_mb(server.process.pid)

            rps = throughput_phase(
                pool, [(direct, None), *((s.target(), s.process and s.process.pid)
                                         for s in servers)], load, after_load)
            extra["direct_rps"] = rps.pop("direct")["rps"]
            for name, figures in rps.items():
                by_name[name].figures.update(figures)
                print(f"    {name} RSS after the load: {by_name[name].figures['rss_mb']:.1f} MB")
        finally:
            for server in servers:
                stop(server)
    out = figures_json(servers, extra)
    for key in ("rps_ratio_vs_litellm_proxy", "p50_ratio_vs_litellm_proxy"):
        print(f"{key}: {out[key]}")
    emit_json(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
