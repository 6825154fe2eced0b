"""Hedged first token: a slow local step races the next local step, through the real stack.

The nodes are protocol stand-ins; a step is made slow with a ``first_token_gate`` (an event
the test sets, or never sets) and ``hedge_after`` is a short per-route setting. Tests wait
on events (a request arriving, a client disconnecting), never on the clock. Where a test
shows that something did *not* happen during ``hedge_after``, it first lets more than
``hedge_after`` pass (a sleep that can only make the precondition hold more surely).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from homecrew.settings import load_settings
from inference.config import InferenceSettings, NodeClient
from inference.errors import ConfigError, NodeUnavailable, RequestRejected
from inference.health import CircuitState
from inference.report import spend_report
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ReplyDone, TextDelta
from tests.support.stack import make_settings, seed_like_settings
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin, Script

HEDGE_AFTER = 0.2
WAIT = 10  # bound on waiting for an event; the tests never assert on time


@dataclass
class Nodes:
    mlx: OpenAIStandin
    ollama: OllamaStandin
    anthropic: AnthropicStandin
    gate: asyncio.Event  # holds the mlx node's first token until set


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    gate = asyncio.Event()
    async with (
        OpenAIStandin(script=Script(reply="from mlx", first_token_gate=gate)) as mlx,
        OllamaStandin(script=Script(reply="from ollama")) as ollama,
        AnthropicStandin(script=Script(reply="from claude")) as anthropic,
    ):
        yield Nodes(mlx, ollama, anthropic, gate)
        gate.set()


def settings_for(
    nodes: Nodes, tmp_path: Path, client: NodeClient = "auto", **route: Any
) -> InferenceSettings:
    """The seed's routes; ``route`` overrides ``timeouts.routes.<route>`` of both routes."""
    hedging = {"hedge_after": HEDGE_AFTER, **route}
    return seed_like_settings(
        mlx_url=f"{nodes.mlx.base_url}/v1",
        ollama_url=nodes.ollama.base_url,
        anthropic_url=nodes.anthropic.base_url,
        data_dir=tmp_path,
        client=client,
        timeouts={"routes": {"smart-agent": hedging, "chief-monitor": hedging}},
    )


def ask(text: str = "hello", route: str = "smart-agent", **kw: Any) -> ChatRequest:
    return ChatRequest(route=route, messages=[Message("user", text)], agent="skip",
                       use_cache=False, **kw)


async def collect(stack: InferenceStack, request: ChatRequest) -> tuple[str, ReplyDone]:
    parts: list[str] = []
    done: ReplyDone | None = None
    async for event in stack.stream(request):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            done = event
    assert done is not None
    return "".join(parts), done


async def ledger_rows(stack: InferenceStack) -> list[tuple[str, str, str | None]]:
    await stack.ledger.flush()
    db = await stack.database()
    rows = await db.fetch("SELECT model, outcome, error FROM ledger ORDER BY ts, model")
    return [(r["model"], r["outcome"], r["error"]) for r in rows]


@pytest.mark.parametrize("client", ["native", "litellm"])
async def test_slow_primary_loses_to_the_next_local_step(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, done = await collect(stack, ask())
        async with asyncio.timeout(WAIT):
            await nodes.mlx.wait_for_disconnects(1)  # its request was closed, not left hanging
        rows = await ledger_rows(stack)
        report = await spend_report(await stack.database(), since=time.time() - 3600)
        mlx = stack.board.get("mlx")
    assert text == "from ollama"
    assert (done.node, done.fallback_depth, done.hedged) == ("ollama", 1, True)
    assert done.fell_back_from[0].startswith("mlx-qwen (hedge_lost: no first token within ")
    assert len(nodes.mlx.requests_to("/v1/chat/completions")) == 1
    assert nodes.anthropic.requests == []
    outcomes = {model: (outcome, error) for model, outcome, error in rows}
    assert outcomes["ollama-qwen"] == ("ok", None)
    outcome, error = outcomes["mlx-qwen"]
    assert outcome == "cancelled"
    assert error is not None and "lost a hedge" in error and "ollama-qwen@ollama" in error
    # `homecrew spend`: one answer, the cancelled attempt is neither a failure nor a 2nd cost
    assert (report.total.attempts, report.total.answered, report.total.failures) == (2, 1, 0)
    assert report.total.cost_usd == done.cost_usd == 0.0
    # it never produced a first token, so it counts as one node failure (threshold: 3)
    assert (mlx.state, mlx.consecutive_failures) == (CircuitState.CLOSED, 1)
    assert mlx.last_error is not None and "no first token" in mlx.last_error


async def test_a_loser_that_had_its_first_token_is_not_a_node_failure(tmp_path: Path) -> None:
    # Two nodes on one stand-in, both held by one gate: opened together, both first tokens
    # arrive together; the earlier step wins and the other was merely slower.
    gate = asyncio.Event()
    async with OpenAIStandin(script=Script(reply="same", first_token_gate=gate)) as server:
        url = f"{server.base_url}/v1"
        settings = make_settings(
            nodes={"a": {"kind": "openai", "base_url": url},
                   "b": {"kind": "openai", "base_url": url}},
            models={"qa": {"node": "a", "model": "qwen"}, "qb": {"node": "b", "model": "qwen"}},
            routes={"r": ["qa", "qb"]},
            data_dir=tmp_path,
            timeouts={"routes": {"r": {"hedge_after": HEDGE_AFTER}}},
        )
        async with InferenceStack.open(settings, probes=False) as stack:
            reply = asyncio.create_task(collect(stack, ask(route="r")))
            async with asyncio.timeout(WAIT):
                await server.wait_for_requests(2, "/v1/chat/completions")  # the hedge started
            await asyncio.sleep(2 * HEDGE_AFTER)  # the hedge is overdue as well
            gate.set()
            text, done = await reply
            rows = await ledger_rows(stack)
            health = {name: stack.board.get(name).consecutive_failures for name in ("a", "b")}
    assert (text, done.model, done.hedged) == ("same", "qa", True)
    assert sorted((model, outcome) for model, outcome, _ in rows) == [
        ("qa", "ok"), ("qb", "cancelled")]
    assert health == {"a": 0, "b": 0}


async def test_wedged_primary_opens_its_circuit_and_is_then_skipped(
    nodes: Nodes, tmp_path: Path
) -> None:
    settings = settings_for(nodes, tmp_path)
    threshold = settings.health.failure_threshold
    async with InferenceStack.open(settings, probes=False) as stack:
        hedged = [await collect(stack, ask(f"question {i}")) for i in range(threshold)]
        async with asyncio.timeout(WAIT):
            await nodes.mlx.wait_for_disconnects(threshold)
        state = stack.board.get("mlx").state
        text, after = await collect(stack, ask("once more"))
    assert all(t == "from ollama" and d.hedged for t, d in hedged)
    assert state is CircuitState.OPEN
    # skipped at once: no request, no hedge, no wait for hedge_after
    assert (text, after.node, after.hedged) == ("from ollama", "ollama", False)
    assert "circuit_open" in after.fell_back_from[0]
    assert len(nodes.mlx.requests_to("/v1/chat/completions")) == threshold


async def test_unstreamed_request_is_hedged_too(nodes: Nodes, tmp_path: Path) -> None:
    async with InferenceStack.open(settings_for(nodes, tmp_path), probes=False) as stack:
        done = await stack.complete(ask(stream=False))
    assert (done.text, done.node, done.hedged) == ("from ollama", "ollama", True)


async def _answer_after_a_wait(stack: InferenceStack, nodes: Nodes, route: str) -> ReplyDone:
    """Let the slow mlx step go well past hedge_after, then let it answer."""
    reply = asyncio.create_task(collect(stack, ask(route=route)))
    async with asyncio.timeout(WAIT):
        await nodes.mlx.wait_for_requests(1, "/v1/chat/completions")
    await asyncio.sleep(3 * HEDGE_AFTER)
    nodes.gate.set()
    _, done = await reply
    return done


async def test_cloud_step_is_not_hedged_into_by_default(nodes: Nodes, tmp_path: Path) -> None:
    async with InferenceStack.open(settings_for(nodes, tmp_path), probes=False) as stack:
        done = await _answer_after_a_wait(stack, nodes, "chief-monitor")  # mlx → claude
    assert (done.text, done.node, done.hedged) == ("from mlx", "mlx", False)
    assert nodes.anthropic.requests == []


async def test_hedge_cloud_lets_a_cloud_step_race(nodes: Nodes, tmp_path: Path) -> None:
    settings = settings_for(nodes, tmp_path, hedge_cloud=True)
    async with InferenceStack.open(settings, probes=False) as stack:
        text, done = await collect(stack, ask(route="chief-monitor"))
        async with asyncio.timeout(WAIT):
            await nodes.mlx.wait_for_disconnects(1)
    assert (text, done.node, done.hedged) == ("from claude", "anthropic", True)


async def test_hedge_after_off_disables_hedging(nodes: Nodes, tmp_path: Path) -> None:
    settings = settings_for(nodes, tmp_path, hedge_after="off")
    async with InferenceStack.open(settings, probes=False) as stack:
        done = await _answer_after_a_wait(stack, nodes, "smart-agent")
    assert (done.text, done.node, done.hedged) == ("from mlx", "mlx", False)
    assert nodes.ollama.requests_to("/api/chat") == []


async def test_a_failed_hedge_lets_the_one_after_it_race(nodes: Nodes, tmp_path: Path) -> None:
    # mlx slow, ollama failing: the hedge goes on to the next step once ollama has failed
    nodes.ollama.script = Script.http_error(503)
    settings = settings_for(nodes, tmp_path, hedge_cloud=True)
    async with InferenceStack.open(settings, probes=False) as stack:
        text, done = await collect(stack, ask())
    assert (text, done.node, done.fallback_depth, done.hedged) == (
        "from claude", "anthropic", 2, True)
    assert [entry.split(" (")[1].split(":")[0] for entry in done.fell_back_from] == [
        "hedge_lost", "unavailable"]


# -- configuration --------------------------------------------------------------------------

CONFIG = """
nodes:
  mlx: {kind: openai, base_url: "http://127.0.0.1:9/v1"}
models:
  mlx-qwen: {node: mlx, model: qwen}
routes:
  smart-agent: [mlx-qwen]
  chief-monitor: [mlx-qwen]
"""


def test_hedge_settings_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "homecrew.yaml"
    path.write_text(CONFIG + """
timeouts:
  hedge_after: 1.5
  routes:
    smart-agent: {hedge_after: off, hedge_cloud: true}
""")
    settings = load_settings(path, environ={})
    off, default = settings.route_hedging("smart-agent"), settings.route_hedging("chief-monitor")
    assert (off.after, off.cloud) == (None, True)
    assert (default.after, default.cloud) == (1.5, False)
    path.write_text(CONFIG)
    defaults = load_settings(path, environ={}).route_hedging("smart-agent")
    assert (defaults.after, defaults.cloud) == ("auto", False)


@pytest.mark.parametrize("value", ["soon", "-1", "0", "true"])
def test_a_bad_hedge_after_names_file_and_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "homecrew.yaml"
    path.write_text(CONFIG + f"timeouts: {{routes: {{smart-agent: {{hedge_after: {value}}}}}}}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert str(path) in message
    assert "timeouts.routes.smart-agent.hedge_after: expected seconds" in message


async def test_a_hedge_that_rejects_the_request_waits_for_the_earlier_step(
    nodes: Nodes, tmp_path: Path
) -> None:
    # As if tried in order: a rejection from the hedge counts only if the slow step fails.
    nodes.ollama.script = Script.http_error(400, message="bad request: unsupported parameter")
    async with InferenceStack.open(settings_for(nodes, tmp_path), probes=False) as stack:
        reply = asyncio.create_task(collect(stack, ask("first")))
        async with asyncio.timeout(WAIT):
            await nodes.ollama.wait_for_requests(1, "/api/chat")
        nodes.gate.set()
        text, done = await reply
        nodes.mlx.script = Script(first_token_gate=asyncio.Event())  # now it times out
        with pytest.raises(RequestRejected, match="unsupported parameter"):
            await collect(stack, ask("second"))
    assert (text, done.node, done.hedged) == ("from mlx", "mlx", True)
    assert nodes.anthropic.requests == []


def trial_settings(nodes: Nodes, tmp_path: Path) -> InferenceSettings:
    """Short first-token wait and cool-down, so a half-open trial comes due and ends soon."""
    hedging = {"hedge_after": 5.0}  # far beyond the wait: only a trial is hedged at once
    return seed_like_settings(
        mlx_url=f"{nodes.mlx.base_url}/v1", ollama_url=nodes.ollama.base_url,
        anthropic_url=nodes.anthropic.base_url, data_dir=tmp_path,
        timeouts={"first_token": 1.0, "routes": {"smart-agent": hedging}},
        health={"cooldown": 0.2, "failure_threshold": 1},
    )


async def open_circuit(stack: InferenceStack, node: str) -> None:
    """Open ``node``'s circuit the way a failed request does, then let its cool-down pass
    (a trial comes due by the clock alone: no event says so)."""
    stack.board.record_failure(node, NodeUnavailable("connection refused"))
    assert stack.board.get(node).state is CircuitState.OPEN
    await asyncio.sleep(1.5 * stack.board.cooldown_of(node))
    assert stack.board.would_trial(node)


async def test_a_half_open_trial_is_hedged_at_once_and_still_gets_its_verdict(
    nodes: Nodes, tmp_path: Path
) -> None:
    # The primary is wedged (its first token never comes). Its trial request is raced
    # against the next local step from the start: the answer comes from Ollama without
    # waiting for the primary's first-token deadline, and the trial runs on to that
    # deadline in the background, where it fails and re-opens the circuit, doubled.
    async with InferenceStack.open(trial_settings(nodes, tmp_path), probes=False) as stack:
        await open_circuit(stack, "mlx")
        reopened = asyncio.create_task(stack.board.wait_opened("mlx"))
        started = asyncio.get_running_loop().time()
        text, done = await collect(stack, ask("during the outage"))
        answered = asyncio.get_running_loop().time() - started
        assert not reopened.done(), "the trial is still waiting for its first token"
        async with asyncio.timeout(WAIT):
            await reopened
        mlx = stack.board.get("mlx")
    assert (text, done.node, done.hedged) == ("from ollama", "ollama", True)
    assert answered < 1.0, "nobody waited for the suspect node's first-token deadline"
    assert len(nodes.mlx.requests_to("/v1/chat/completions")) == 1
    assert (mlx.state, mlx.failed_trials) == (CircuitState.OPEN, 1)


async def test_a_trial_that_answers_after_losing_the_race_closes_the_circuit(
    nodes: Nodes, tmp_path: Path
) -> None:
    async with InferenceStack.open(trial_settings(nodes, tmp_path), probes=False) as stack:
        await open_circuit(stack, "mlx")
        text, done = await collect(stack, ask("while it comes back"))
        assert stack.board.get("mlx").state is CircuitState.HALF_OPEN
        nodes.gate.set()  # the primary is back: its trial's first token arrives
        async with asyncio.timeout(WAIT):
            await stack.board.wait_for(
                lambda board: board.get("mlx").state is CircuitState.CLOSED)
        text_after, after = await collect(stack, ask("after"))
    assert (text, done.node) == ("from ollama", "ollama")
    assert (text_after, after.node, after.hedged) == ("from mlx", "mlx", False)
