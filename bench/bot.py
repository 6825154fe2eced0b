"""The Discord bot under load: 60 conversations across the six agent channels at once.

The real bot (``homecrew.compose.open_bot`` → ``HomecrewBot``: real chain, real team engine,
SQLite) runs in this process. The Discord stand-in and a stand-in model node with a fixed
time to first token each run in a child process of their own (Discord and the model node
are other machines), so they take neither the bot's event loop nor its GIL, nor each
other's. With two CPUs or more the bot runs on the first and the stand-ins on the others,
so they do not take its CPU either: left to the kernel, a stand-in waking the bot often
has it wait on the stand-in's own CPU (``--no-pin`` measures that way too).

The set-up is the default one: no Redis or PostgreSQL, and the node a local
OpenAI-compatible server, which homecrew's native client speaks to; ``--client litellm``
reaches it through LiteLLM's Router instead, for comparison.

Each conversation is a thread under an agent channel with one message in it; all 60
messages are posted at once, after one warm-up conversation per channel (first-use
imports, webhooks).

Figures (timestamps are CLOCK_MONOTONIC, shared by the processes):

* bot overhead per conversation: the MESSAGE_CREATE reaching the bot (the stand-in has
  written it to the bot's gateway socket) → the first content the bot posts there, minus
  the node's time for the model calls before it (its time to first token; for Skip also
  his planning call, which returns whole) — p50/p99, target p50 ≤ 50 ms; split into the
  Discord side (MESSAGE_CREATE → the bot's handler, handler → the engine's reply handle,
  first text → the webhook post) and the engine + chain (handle → first text, minus the
  node's time); and the same overhead with one conversation at a time;
* replies completed (final text as scripted);
* heartbeat ACK latency during the load: the stand-in receiving a heartbeat → discord.py
  having handled its ACK (read from discord.py's keep-alive handler);
* event-loop lag p99 of the bot's loop (a 10 ms ticker), and the bot process's RSS;
* then a same-channel burst (``bench/_burst.py``): 30 messages in one agent channel at
  once, each answered with its own text; the first visible answer (MESSAGE_CREATE → its
  first post, node TTFT included) p50/p99, targets ≤ 500 / ≤ 1,000 ms, and every answer
  checked against the message it says it answers (the run fails otherwise).

Run from the repository root: ``.venv/bin/python bench/bot.py [--client litellm]
[--no-pin]``; the last line is JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import _burst
import psutil
from _common import Stats, emit_json, loopback_only, ms, percentile, quiet_logs

CHANNELS = ("skip", "nellie", "chief", "gonzo", "cleo", "jax")
PER_CHANNEL = 10
TTFT_S = 0.2
CHUNK_CHARS, CHUNK_DELAY_S = 32, 0.05
ROUTES = {"skip": "smart-agent", "nellie": "nellie-research", "chief": "chief-monitor",
          "gonzo": "gonzo-backend", "cleo": "cleo-frontend", "jax": "jax-creative"}
# Skip plans first (JSON, parsed: no steps, so he answers himself); everyone streams it.
REPLY = json.dumps({"steps": [], "note": "benchmark"}) + " " + "streamed words " * 30
PLAN_S = TTFT_S + (math.ceil(len(REPLY) / CHUNK_CHARS) - 1) * CHUNK_DELAY_S


# -- the child processes: the Discord stand-in, and the model node -----------------------------
def discord_main(conn: Connection, cpus: frozenset[int]) -> None:
    pin(cpus)
    quiet_logs()
    with loopback_only():
        asyncio.run(_serve_discord(conn))


def node_main(conn: Connection, cpus: frozenset[int]) -> None:
    pin(cpus)
    quiet_logs()
    with loopback_only():
        asyncio.run(_serve_node(conn))


def placement(pinned: bool) -> tuple[frozenset[int], frozenset[int]]:
    """The bot's CPU and the stand-ins' CPUs (empty: wherever the kernel puts them)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not pinned or len(cpus) < 2:
        return frozenset(), frozenset()
    return frozenset(cpus[:1]), frozenset(cpus[1:])


def pin(cpus: frozenset[int]) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


async def _commands(conn: Connection, handle: Callable[[str, Any], Awaitable[Any]]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            conn.send(None)
            return
        conn.send(await handle(command, argument))


async def _serve_discord(conn: Connection) -> None:
    from tests.support.discord_standin import StandinDiscord

    async with StandinDiscord(patch_discord=False, heartbeat_interval_ms=500) as discord:
        conn.send({"api_base": discord.api_base, "gateway_url": discord.gateway_url,
                   "token": discord.token, "guild_id": discord.guild_id})

        async def handle(command: str, argument: Any) -> Any:
            return await _command(discord, command, argument)

        await _commands(conn, handle)


async def _serve_node(conn: Connection) -> None:
    from tests.support.standins import OpenAIStandin, Script

    script = Script(reply=REPLY, chunk_chars=CHUNK_CHARS, first_token_delay=TTFT_S,
                    chunk_delay=CHUNK_DELAY_S, answer=_burst.node_answer(REPLY))
    async with OpenAIStandin(models=("bench-model",), script=script) as node:
        conn.send(node.base_url)

        async def handle(command: str, since: Any) -> Any:
            return [r.received_at for r in node.requests_to("/v1/chat/completions")
                    if r.received_at >= since]

        await _commands(conn, handle)


async def _command(discord: Any, command: str, argument: Any) -> Any:
    if command == "threads":
        return await _open_threads(discord, argument)
    if command == "post":
        mark = discord.mark()
        await asyncio.gather(*(discord.user_message(t, "alice", f"thread {t}: how is it going?")
                               for t in argument))
        return mark
    if command == "done":
        return sum(1 for t in argument if _final(discord, t) == REPLY)
    if command == "report":
        return _report(discord, *argument)
    if command == "burst":
        return await _burst.post(discord)
    if command == "burst_done":
        return _burst.correct(discord, argument)
    if command == "burst_report":
        return _burst.report(discord, *argument)
    raise ValueError(command)


async def _open_threads(discord: Any, per_channel: int) -> list[tuple[str, int]]:
    from tests.support.discord_standin.payloads import channel_payload

    state, made = discord.state, []
    for channel in CHANNELS:
        for index in range(per_channel):
            thread = state.world.add_thread(state.world.channel(channel), f"talk {index}",
                                            state.world.user("alice"))
            body = channel_payload(thread, state.world.guild_id)
            await state.gateway.dispatch("THREAD_CREATE", {**body, "newly_created": True})
            made.append((channel, thread.id))
    return made


def _final(discord: Any, thread_id: int) -> str | None:
    shown = [m for m in discord.channel_view(thread_id) if m.webhook_id is not None]
    return shown[-1].content if shown else None


def _report(discord: Any, mark: int, threads: list[int]) -> dict[str, Any]:
    """When each MESSAGE_CREATE went down the bot's socket, and its first reply came back."""
    from tests.support.discord_standin import (
        DispatchSent,
        HeartbeatReceived,
        SentMessage,
        UserMessage,
    )

    posted = {e.message_id for e in discord.events(UserMessage, since=mark)}
    users: dict[int, float] = {}
    for e in discord.events(DispatchSent, since=mark):
        if e.event == "MESSAGE_CREATE" and not e.replay and int(e.data["id"]) in posted:
            users.setdefault(int(e.data["channel_id"]), e.at)
    firsts: dict[int, float] = {}
    for sent in discord.events(SentMessage, since=mark):
        if sent.webhook_id is not None:
            firsts.setdefault(sent.channel_id, sent.at)
    return {
        "user_at": {t: users.get(t) for t in threads},
        "first_at": {t: firsts.get(t) for t in threads},
        # when each heartbeat arrived (the event is recorded once the ACK is on its way)
        "heartbeats": [h.at - h.ack_latency for h in discord.events(HeartbeatReceived,
                                                                     since=mark)],
    }


# -- the bot's process ------------------------------------------------------------------------
class Remote:
    """The children's command pipes, used from the bot's loop without blocking it."""

    def __init__(self, discord: Connection, node: Connection) -> None:
        self._discord = discord
        self._node = node

    async def ask(self, command: str, argument: Any = None) -> Any:
        """A command for the Discord stand-in."""
        return await asyncio.to_thread(_round_trip, self._discord, command, argument)

    async def node_requests(self, since: float) -> list[float]:
        """When the node received each chat request from ``since`` on."""
        found: list[float] = await asyncio.to_thread(_round_trip, self._node, "requests", since)
        return found


def _round_trip(conn: Connection, command: str, argument: Any) -> Any:
    conn.send((command, argument))
    return conn.recv()


class Timeline:
    """When the bot saw each message, got the engine's handle, and got the first text.

    Read through public hooks: an ``on_message`` listener, and the engine's ``reply`` and
    the handle's ``emit`` wrapped on these instances (nothing in the packages changes).
    """

    def __init__(self, bot: Any) -> None:
        self.seen: dict[int, float] = {}
        self.handle: dict[int, float] = {}
        self.first_text: dict[int, float] = {}
        engine = bot.ctx.engine
        original = engine.reply

        async def seen(message: Any) -> None:
            self.seen.setdefault(message.channel.id, time.monotonic())

        async def reply(conversation_id: str, *args: Any, **kwargs: Any) -> Any:
            from team.events import TextDelta

            place = int(conversation_id.split(":")[1])
            handle = await original(conversation_id, *args, **kwargs)
            self.handle.setdefault(place, time.monotonic())
            emit = handle.emit

            def timed(event: Any) -> None:
                if isinstance(event, TextDelta):
                    self.first_text.setdefault(place, time.monotonic())
                emit(event)

            handle.emit = timed
            return handle

        bot.add_listener(seen, "on_message")
        engine.reply = reply


class Probes:
    """Event-loop lag (10 ms ticker) and discord.py's heartbeat ACKs, sampled on the loop."""

    def __init__(self, bot: Any) -> None:
        self._bot = bot
        self.lags: list[float] = []
        self.acks: list[float] = []

    async def run(self) -> None:
        tick = 0.01
        while True:
            started = time.perf_counter()
            await asyncio.sleep(tick)
            self.lags.append(max(0.0, time.perf_counter() - started - tick))
            keep_alive = getattr(self._bot.ws, "_keep_alive", None)
            ack = getattr(keep_alive, "_last_ack", None)  # perf_counter == CLOCK_MONOTONIC
            if ack is not None and (not self.acks or ack != self.acks[-1]):
                self.acks.append(ack)


def settings_for(info: dict[str, Any], data_dir: Path, client: str) -> Any:
    from homecrew.settings import Settings

    return Settings.model_validate({
        "nodes": {"local": {"kind": "openai", "base_url": f"{info['node_url']}/v1",
                            "client": client}},
        "models": {"local-qwen": {"node": "local", "model": "bench-model",
                                  "context_window": 8192}},
        "routes": {route: ["local-qwen"] for route in ROUTES.values()},
        "data_dir": str(data_dir),
        "timeouts": {"connect": 2, "first_token": 10, "total": 30},
        "discord": {"token": info["token"], "guild_ids": [info["guild_id"]]},
    })


async def poll(check: Callable[[], Awaitable[bool]], every: float, limit: float) -> bool:
    """Until ``check()`` holds (polled every ``every`` s), at most ``limit`` s."""
    for _ in range(max(1, round(limit / every))):
        if await check():
            return True
        await asyncio.sleep(every)
    return False


async def converse(bot: Any, remote: Remote, threads: list[tuple[str, int]]) -> dict[str, Any]:
    ids = [t for _, t in threads]
    guild = bot.get_guild(bot.ctx.settings.guild_ids[0])

    async def threads_known() -> bool:
        return all(guild.get_thread(t) is not None for t in ids)

    await poll(threads_known, 0.01, 10.0)
    probes = Probes(bot)
    ticker = asyncio.create_task(probes.run(), name="probes")
    started = time.perf_counter()
    try:
        mark = await remote.ask("post", ids)

        async def all_done() -> bool:
            return bool(await remote.ask("done", ids) == len(ids))

        await poll(all_done, 0.1, 90.0)
        async with asyncio.timeout(30):
            await bot.ctx.tracker.wait_idle()
        wall = time.perf_counter() - started
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    report = await remote.ask("report", (mark, ids))
    start = min((at for at in report["user_at"].values() if at is not None), default=0.0)
    report.update(requests_at=await remote.node_requests(start), wall=wall,
                  completed=await remote.ask("done", ids), lags=probes.lags, acks=probes.acks)
    return report


async def run(remote: Remote, info: dict[str, Any], client: str) -> dict[str, Any]:
    from bot.endpoints import discord_endpoints
    from homecrew.compose import open_bot

    process = psutil.Process(os.getpid())
    with tempfile.TemporaryDirectory() as tmp, discord_endpoints(info["api_base"],
                                                                  info["gateway_url"]):
        async with open_bot(settings_for(info, Path(tmp), client), env={},
                            watch=False) as bot:
            client = asyncio.create_task(bot.start(info["token"]), name="discord-client")
            await asyncio.wait_for(bot.wait_until_ready(), 30)
            rss_ready = process.memory_info().rss
            timeline = Timeline(bot)
            warm = await converse(bot, remote, await remote.ask("threads", 1))
            alone = [(thread, await converse(bot, remote, [thread]))
                     for thread in await remote.ask("threads", 1)]
            threads = await remote.ask("threads", PER_CHANNEL)
            loaded = await converse(bot, remote, threads)
            rss = process.memory_info().rss
            burst = await _burst.run_burst(bot, remote, poll)
            await bot.close()
            await asyncio.gather(client, return_exceptions=True)
    result = figures(threads, warm, loaded, rss_ready=rss_ready, rss=rss, timeline=timeline)
    solo = [_overhead(channel, run["user_at"][t], run["first_at"][t])
            for (channel, t), run in alone if run["first_at"].get(t) is not None]
    print(f"one conversation at a time (6): overhead p50 {ms(percentile(solo, 50)):.2f} ms, "
          f"max {ms(max(solo)):.2f} ms")
    result["sequential_overhead_p50_ms"] = round(ms(percentile(solo, 50)), 2)
    result["sequential_overhead_max_ms"] = round(ms(max(solo)), 2)
    result.update(burst_figures(burst))
    return result


def burst_figures(burst: dict[str, Any]) -> dict[str, Any]:
    """30 messages in one channel at once: first visible answer, and every answer right."""
    visible = Stats.of(burst["visible"])
    print(f"same-channel burst ({burst['count']} messages in #{_burst.BURST_CHANNEL} at once): "
          f"first visible answer {visible.line_ms()}; answers complete and right: "
          f"{burst['completed']}/{burst['count']}")
    assert burst["completed"] == burst["count"], "every burst message gets its own answer"
    return {
        "channel_burst_messages": burst["count"],
        "channel_burst_replies_completed": burst["completed"],
        "channel_burst_first_visible_p50_ms": round(ms(visible.p50), 2),
        "channel_burst_first_visible_p99_ms": round(ms(visible.p99), 2),
        "channel_burst_first_visible_max_ms": round(ms(visible.max), 2),
    }


def _overhead(channel: str, user: float, first: float) -> float:
    """First content − message, minus the node's time (Skip: his plan call and TTFT)."""
    return first - user - (PLAN_S + TTFT_S if channel == "skip" else TTFT_S)


def figures(threads: list[tuple[str, int]], warm: dict[str, Any], run: dict[str, Any], *,
            rss_ready: int, rss: int, timeline: Timeline) -> dict[str, Any]:
    overheads: list[float] = []
    parts: dict[str, list[float]] = {"gateway": [], "to_engine": [], "engine_chain": [],
                                     "to_post": []}
    for channel, thread in threads:
        user, first = run["user_at"].get(thread), run["first_at"].get(thread)
        if user is None or first is None:
            continue
        model = PLAN_S + TTFT_S if channel == "skip" else TTFT_S
        overheads.append(_overhead(channel, user, first))
        seen, handle = timeline.seen.get(thread), timeline.handle.get(thread)
        text = timeline.first_text.get(thread)
        if seen is not None and handle is not None and text is not None:
            parts["gateway"].append(seen - user)
            parts["to_engine"].append(handle - seen)
            parts["engine_chain"].append(text - handle - model)
            parts["to_post"].append(first - text)
    own = [g + e + p for g, e, p in zip(parts["gateway"], parts["to_engine"],
                                         parts["to_post"], strict=True)]
    acks = sorted(run["acks"])
    ack_latency = [next(a for a in acks if a >= beat) - beat for beat in run["heartbeats"]
                   if any(a >= beat for a in acks)]
    start = min(v for v in run["user_at"].values() if v is not None)
    sent = [r - start for r in run["requests_at"]]
    stats = Stats.of(overheads)
    print(f"warm-up: {warm['completed']}/{len(warm['user_at'])} replies")
    print(f"overhead (MESSAGE_CREATE → first content − node time): {stats.line_ms()}")
    for name, values in parts.items():
        print(f"  {name:>12}: p50 {ms(percentile(values, 50)):8.2f} ms  p99 "
              f"{ms(percentile(values, 99)):8.2f} ms")
    print(f"  Discord side (gateway + to_engine + to_post): {Stats.of(own).line_ms()}")
    print(f"model requests during the load: {len(sent)}")
    print(f"replies completed: {run['completed']}/{len(threads)} in {run['wall']:.2f} s; "
          f"model requests sent p50 {ms(percentile(sent, 50)):.1f} ms after the burst")
    print(f"heartbeat ACK latency p50 {ms(percentile(ack_latency, 50)):.2f} ms, max "
          f"{ms(max(ack_latency, default=math.nan)):.2f} ms ({len(ack_latency)} beats); "
          f"event-loop lag p99 {ms(percentile(run['lags'], 99)):.2f} ms")
    return {
        "conversations": len(threads),
        "replies_completed": run["completed"],
        "bot_overhead_p50_ms": round(ms(stats.p50), 2),
        "bot_overhead_p99_ms": round(ms(stats.p99), 2),
        "bot_overhead_max_ms": round(ms(stats.max), 2),
        "model_requests_sent_p50_ms": round(ms(percentile(sent, 50)), 2),
        "discord_side_p50_ms": round(ms(percentile(own, 50)), 2),
        "discord_side_p99_ms": round(ms(percentile(own, 99)), 2),
        "engine_chain_p50_ms": round(ms(percentile(parts["engine_chain"], 50)), 2),
        "engine_chain_p99_ms": round(ms(percentile(parts["engine_chain"], 99)), 2),
        "heartbeat_ack_p50_ms": round(ms(percentile(ack_latency, 50)), 2),
        "heartbeat_ack_max_ms": round(ms(max(ack_latency, default=math.nan)), 2),
        "heartbeats": len(ack_latency),
        "loop_lag_p99_ms": round(ms(percentile(run["lags"], 99)), 2),
        "loop_lag_max_ms": round(ms(max(run["lags"], default=0.0)), 2),
        "wall_s": round(run["wall"], 3),
        "rss_ready_mb": round(rss_ready / 2**20, 1),
        "rss_mb": round(rss / 2**20, 1),
        "node_ttft_ms": ms(TTFT_S),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--client", choices=("auto", "native", "litellm"), default="auto",
                        help="the node's client setting (default: auto, i.e. native here)")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the kernel place the bot and the stand-ins (default: the bot "
                             "on the first CPU, the stand-ins on the others)")
    args = parser.parse_args()
    quiet_logs()
    bot_cpus, standin_cpus = placement(not args.no_pin)
    context = multiprocessing.get_context("spawn")
    pipes = {name: context.Pipe() for name in ("discord", "node")}
    children = [context.Process(target=target, args=(pipes[name][1], standin_cpus), name=name,
                                daemon=True)
                for name, target in (("discord", discord_main), ("node", node_main))]
    for child in children:
        child.start()
    pin(bot_cpus)
    print(f"CPUs: bot {sorted(bot_cpus) or 'any'}, stand-ins {sorted(standin_cpus) or 'any'}")
    discord, node = pipes["discord"][0], pipes["node"][0]
    try:
        with loopback_only():
            info = {**discord.recv(), "node_url": node.recv()}
            result = asyncio.run(run(Remote(discord, node), info, args.client))
        for conn in (discord, node):
            _round_trip(conn, "stop", None)
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
    result["client"] = args.client
    result["pinned"] = bool(bot_cpus)
    emit_json(result)


if __name__ == "__main__":
    main()
