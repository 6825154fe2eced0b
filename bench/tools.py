"""A tool round trip: what homecrew adds to the model's and the tool's own time.

One round trip is what an agent's reply with one tool does: the model asks for a tool
(a streamed ``tool_calls`` answer), the tool runs, the model gets the result and answers.
Through homecrew that is :class:`team.toolloop.ToolLoop` over the real chain
(:class:`inference.runtime.InferenceStack`, native client, cache bypassed) and the real
:class:`team.tools.Toolbox` (grant check, audit entry in SQLite, redaction, truncation)
over :class:`team.tools.McpServers`.

* Model: a zero-delay OpenAI-compatible stand-in in its own thread.
* Tool: ``mcp-server-time`` (``get_current_time``) over stdio, from PyPI.
* Baseline, interleaved with homecrew round by round: the same two model requests sent
  directly with aiohttp (read to the end), and the same tool call through the ``mcp``
  SDK's own ``ClientSession`` on a second ``mcp-server-time`` process.
* Overhead of a round = homecrew's round trip − (direct model requests + direct tool
  call) of the same round; p50/p99 over ``N`` rounds after a warm-up.
* Cold: from nothing running (MCP servers not started, stack not open; modules already
  imported) to the first tool result of the first round trip.

Run from the repository root: ``.venv/bin/python bench/tools.py``. The last line is one
JSON object: ``overhead_p50_ms``, ``overhead_p99_ms``, ``cold_first_call_s`` and the rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from _common import Stats, emit_json, loopback_only, ms, quiet_logs
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ReplyDone
from personas.loader import load_roster
from personas.schema import Roster
from store import open_database
from team.config import TeamSettings
from team.events import ToolEvent, ToolFinished
from team.halt import HaltSwitch
from team.store import migrate
from team.toolloop import ToolLoop
from team.tools import AutoApprove, McpServerConfig, McpServers, Toolbox
from tests.support.stack import make_settings
from tests.support.standins import OpenAIStandin, Script, ScriptedCall, ServerThread

N = 200
WARMUP = 20
AGENT = "nellie"
CALL = ScriptedCall("time__get_current_time", {"timezone": "UTC"})
ANSWER = "It is noon in UTC."


@dataclass(frozen=True, slots=True)
class _Reply:
    done: ReplyDone | None


def time_server() -> McpServerConfig:
    command = shutil.which("mcp-server-time") or str(Path(sys.executable).parent
                                                      / "mcp-server-time")
    return McpServerConfig(command=command)


def roster() -> Roster:
    base = load_roster()
    return Roster(personas=tuple(p.model_copy(update={"tools": ("time",)})
                                 if p.name == AGENT else p for p in base))


def queue_round(node: ServerThread[OpenAIStandin]) -> None:
    node.server.queue(Script.calling(CALL), Script(reply=ANSWER, chunk_chars=0))


class Homecrew:
    """The round trip through homecrew's loop, chain and toolbox."""

    def __init__(self, stack: InferenceStack, toolbox: Toolbox) -> None:
        self._stack = stack
        self._toolbox = toolbox
        self.first_result: float | None = None

    def _seen(self, event: ToolEvent) -> None:
        if isinstance(event, ToolFinished) and self.first_result is None:
            self.first_result = time.perf_counter()
            if event.outcome != "ok":
                raise RuntimeError(f"the tool call failed: {event.outcome}")

    async def _ask(self, request: ChatRequest) -> _Reply:
        done = None
        async for event in self._stack.stream(request):
            if isinstance(event, ReplyDone):
                done = event
        return _Reply(done)

    async def round_trip(self) -> str:
        loop = ToolLoop(self._toolbox, AGENT, AutoApprove("bench"), max_steps=6,
                        emit=self._seen)
        request = ChatRequest(route="r", messages=(Message("user", "what time is it?"),),
                              agent=AGENT, use_cache=False)
        reply = await loop.run(request, self._ask)
        if reply.done is None or reply.done.text != ANSWER:
            raise RuntimeError(f"unexpected reply: {reply}")
        return reply.done.text


class Direct:
    """The same work without homecrew: aiohttp to the model, the SDK's session to the tool."""

    def __init__(self, http: aiohttp.ClientSession, url: str, tool: ClientSession) -> None:
        self._http = http
        self._url = url
        self._tool = tool

    async def _model(self, body: dict[str, Any]) -> None:
        async with self._http.post(self._url, json=body) as response:
            assert response.status == 200
            async for _ in response.content.iter_any():
                pass

    async def round_trip(self) -> None:
        body: dict[str, Any] = {"model": "m", "stream": True, "messages": [
            {"role": "user", "content": "what time is it?"}]}
        await self._model(body)
        result = await self._tool.call_tool("get_current_time", {"timezone": "UTC"})
        if result.is_error:
            raise RuntimeError(f"the tool failed: {result.content}")
        body["messages"] += [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": CALL.name,
                                                         "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": str(result.content)}]
        await self._model(body)


@asynccontextmanager
async def homecrew_side(base_url: str, data_dir: Path) -> AsyncIterator[Homecrew]:
    settings = make_settings(
        nodes={"local": {"kind": "openai", "base_url": f"{base_url}/v1"}},
        models={"m": {"node": "local", "model": "m"}}, routes={"r": ["m"]},
        data_dir=data_dir, cache={"ttl": 0})
    async with AsyncExitStack() as stack:
        servers = await stack.enter_async_context(McpServers({"time": time_server()}))
        inference = await stack.enter_async_context(InferenceStack.open(settings, probes=False))
        db = await open_database(None, data_dir)
        stack.push_async_callback(db.close)
        await migrate(db)
        halt = HaltSwitch(db)
        await halt.refresh()
        if not await servers.wait_up(within=60):
            raise RuntimeError(f"mcp-server-time did not start: {servers.status()}")
        toolbox = Toolbox(servers, roster(), TeamSettings(), db=db, halt=halt,
                          policy_version=1)
        yield Homecrew(inference, toolbox)


@asynccontextmanager
async def direct_side(base_url: str) -> AsyncIterator[Direct]:
    params = StdioServerParameters(command=time_server().command or "mcp-server-time")
    async with aiohttp.ClientSession() as http, stdio_client(params) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        yield Direct(http, f"{base_url}/v1/chat/completions", session)


async def run(node: ServerThread[OpenAIStandin], data_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    async with homecrew_side(node.base_url, data_dir) as ours:
        queue_round(node)
        await ours.round_trip()
        assert ours.first_result is not None
        cold = ours.first_result - started
        print(f"cold: {cold:.2f} s from starting the MCP server and the stack to the first "
              "tool result")
        async with direct_side(node.base_url) as direct:
            homecrew_s: list[float] = []
            direct_s: list[float] = []
            overhead_s: list[float] = []
            for index in range(WARMUP + N):
                queue_round(node)
                t0 = time.perf_counter()
                await ours.round_trip()
                t1 = time.perf_counter()
                queue_round(node)
                await direct.round_trip()
                t2 = time.perf_counter()
                if index >= WARMUP:
                    homecrew_s.append(t1 - t0)
                    direct_s.append(t2 - t1)
                    overhead_s.append((t1 - t0) - (t2 - t1))
    ours_stats, direct_stats, over = (Stats.of(homecrew_s), Stats.of(direct_s),
                                      Stats.of(overhead_s))
    print(f"homecrew round trip ({N}): {ours_stats.line_ms()}")
    print(f"direct model + tool ({N}): {direct_stats.line_ms()}")
    print(f"overhead per round trip:  {over.line_ms()}  (target p50 ≤ 5 ms)")
    return {
        "round_trips": N,
        "homecrew_p50_ms": ms(ours_stats.p50), "homecrew_p99_ms": ms(ours_stats.p99),
        "direct_p50_ms": ms(direct_stats.p50), "direct_p99_ms": ms(direct_stats.p99),
        "overhead_p50_ms": ms(over.p50), "overhead_p99_ms": ms(over.p99),
        "cold_first_call_s": round(cold, 3),
    }


def main() -> int:
    quiet_logs()
    with (
        loopback_only(),
        tempfile.TemporaryDirectory(prefix="homecrew-bench-") as tmp,
        ServerThread(lambda: OpenAIStandin(script=Script(reply=ANSWER))) as node,
    ):
        figures = asyncio.run(run(node, Path(tmp)))
    emit_json(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

