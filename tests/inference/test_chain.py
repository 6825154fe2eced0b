"""The chain against protocol stand-ins: order, fall-through, errors, usage, interruptions.

Tests that reach the local nodes (mlx, ollama) run twice, through each edge that can speak to
them (the ``client`` fixture): homecrew's native client and the embedded LiteLLM Router. Both
keep one behaviour contract; where the wording of an error differs between the two, the tests
assert what the chain relies on (error class and kind, node, fallback depth, the server's
message). The cloud node (Anthropic) always goes through LiteLLM.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from inference.config import InferenceSettings, NodeClient
from inference.errors import AllStepsFailed, ContextTooLong, RequestRejected, UnknownRouteError
from inference.native import USER_AGENT
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ReplyDone, TextDelta
from tests.support.stack import seed_like_settings
from tests.support.standins import (
    AnthropicStandin,
    BlackholeServer,
    ErrorMidStream,
    OllamaStandin,
    OpenAIStandin,
    Script,
    refused_url,
)


@dataclass
class Nodes:
    mlx: OpenAIStandin
    ollama: OllamaStandin
    anthropic: AnthropicStandin


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    async with (
        OpenAIStandin(script=Script(reply="from mlx")) as mlx,
        OllamaStandin(script=Script(reply="from ollama")) as ollama,
        AnthropicStandin(script=Script(reply="from claude")) as anthropic,
    ):
        yield Nodes(mlx, ollama, anthropic)


def ask(text: str = "hello", route: str = "smart-agent", **kw: object) -> ChatRequest:
    return ChatRequest(route=route, messages=[Message("user", text)], agent="skip", **kw)  # type: ignore[arg-type]


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


@pytest.fixture(params=["native", "litellm"])
def client(request: pytest.FixtureRequest) -> NodeClient:
    """Who speaks to the local nodes (mlx, ollama); the cloud node is always LiteLLM's."""
    chosen: NodeClient = request.param
    return chosen


def settings_for(
    nodes: Nodes,
    tmp_path: Path,
    client: NodeClient = "auto",
    mlx_url: str | None = None,
    **sections: Any,
) -> InferenceSettings:
    return seed_like_settings(
        mlx_url=mlx_url or f"{nodes.mlx.base_url}/v1",
        ollama_url=nodes.ollama.base_url,
        anthropic_url=nodes.anthropic.base_url,
        data_dir=tmp_path,
        client=client,
        **sections,
    )


async def test_primary_answers_streamed(nodes: Nodes, tmp_path: Path, client: NodeClient) -> None:
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, done = await collect(stack, ask())
    assert text == "from mlx"
    assert (done.node, done.model, done.fallback_depth) == ("mlx", "mlx-qwen", 0)
    assert done.upstream_model == "mlx-community/Qwen2.5-14B-Instruct-4bit"
    assert done.cost_usd == 0.0
    assert done.ttft_s is not None and done.ttft_s <= done.latency_s
    # the server's usage: one prompt word, two 4-character deltas
    assert (done.prompt_tokens, done.completion_tokens, done.finish_reason) == (1, 2, "stop")
    assert nodes.ollama.requests_to("/api/chat") == []
    sent = nodes.mlx.requests_to("/v1/chat/completions")[0]
    assert sent.body["stream"] is True and sent.body["messages"][-1]["content"] == "hello"
    assert sent.body["model"] == "mlx-community/Qwen2.5-14B-Instruct-4bit"
    assert sent.body["stream_options"] == {"include_usage": True}
    # the parametrization is real: each edge has its own HTTP client
    assert (sent.headers.get("User-Agent") == USER_AGENT) == (client == "native")


@pytest.mark.parametrize("failure", ["refused", "http500", "http503"])
async def test_failed_primary_falls_through_to_ollama(
    nodes: Nodes, tmp_path: Path, client: NodeClient, failure: str
) -> None:
    mlx_url = refused_url() + "/v1" if failure == "refused" else None
    if failure.startswith("http"):
        nodes.mlx.script = Script.http_error(int(failure[4:]))
    settings = settings_for(nodes, tmp_path, client, mlx_url)
    async with InferenceStack.open(settings, probes=False) as stack:
        text, done = await collect(stack, ask())
    assert text == "from ollama"
    assert (done.node, done.fallback_depth) == ("ollama", 1)
    assert done.fell_back_from[0].startswith("mlx-qwen (unavailable: ")
    assert (done.prompt_tokens, done.completion_tokens) == (1, 3)
    assert nodes.ollama.requests_to("/api/chat")[0].body["model"] == "qwen2.5:14b"


async def test_hung_primary_costs_first_token_timeout_then_is_skipped(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    async with BlackholeServer() as hole:  # without hedging (see test_hedge.py)
        settings = settings_for(nodes, tmp_path, client, f"{hole.base_url}/v1",
                                timeouts={"hedge_after": "off"})
        async with InferenceStack.open(settings, probes=False) as stack:
            _, first = await collect(stack, ask("one"))
            reached = hole.connections
            _, second = await collect(stack, ask("two"))
            assert hole.connections == reached  # the second never went near the hung node
    assert first.node == second.node == "ollama"
    assert "timeout" in first.fell_back_from[0]  # it waited for the first token, then moved on
    assert reached >= 1
    assert "circuit_open" in second.fell_back_from[0]


async def test_everything_down_lists_every_step(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.http_error(500)
    nodes.ollama.script = Script.http_error(503)
    nodes.anthropic.script = Script.http_error(529)
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        with pytest.raises(AllStepsFailed) as caught:
            await collect(stack, ask())
    failed = [(f.model, f.kind) for f in caught.value.failures]
    assert failed == [("mlx-qwen", "unavailable"), ("ollama-qwen", "unavailable"),
                      ("claude-sonnet", "unavailable")]
    assert "HTTP 500" in caught.value.failures[0].reason
    assert "HTTP 503" in caught.value.failures[1].reason
    assert "claude-sonnet@anthropic" in str(caught.value)


async def test_falls_through_to_claude_with_cost(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.http_error(500)
    nodes.ollama.script = Script.http_error(404)
    nodes.anthropic.script = Script(reply="from claude", prompt_tokens=1000,
                                    completion_tokens=2000)
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, done = await collect(stack, ask())
    assert text == "from claude"
    assert (done.node, done.fallback_depth) == ("anthropic", 2)
    assert (done.prompt_tokens, done.completion_tokens) == (1000, 2000)
    # claude-sonnet-4-5 at $3 / $15 per million tokens
    assert done.cost_usd == pytest.approx(1000 * 3e-6 + 2000 * 15e-6)
    sent = nodes.anthropic.requests_to("/v1/messages")[0]
    assert sent.headers.get("x-api-key") == "sk-test"


async def test_bad_request_is_not_retried_down_the_chain(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.http_error(400, message="bad request: unsupported parameter")
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        with pytest.raises(RequestRejected, match="unsupported parameter") as caught:
            await collect(stack, ask())
    assert caught.value.kind == "rejected"
    assert nodes.ollama.requests_to("/api/chat") == []
    assert nodes.anthropic.requests_to("/v1/messages") == []


async def test_cut_after_first_token_ends_with_marker(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.cut_after_first_chunk(reply="partial answer that stops")
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, done = await collect(stack, ask())
    assert text.startswith("part\n\n[reply interrupted: ")
    assert done.interrupted is not None and done.node == "mlx"
    assert done.fallback_depth == 0
    assert nodes.ollama.requests_to("/api/chat") == []


async def test_unstreamed_request_falls_through_even_mid_reply(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.cut_after_first_chunk(reply="partial answer that stops")
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        done = await stack.complete(ask(stream=False))
    assert done.text == "from ollama"
    assert done.interrupted is None


async def test_slow_but_alive_stream_is_not_cut(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    # 12 chunks 0.5 s apart = 6 s > total (5 s), but never idle for first_token (2 s)
    nodes.mlx.script = Script(reply="abcdefghijkl", chunk_chars=1, chunk_delay=0.5)
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, done = await collect(stack, ask())
    assert text == "abcdefghijkl" and done.interrupted is None


async def test_unknown_route(nodes: Nodes, tmp_path: Path) -> None:
    async with InferenceStack.open(settings_for(nodes, tmp_path), probes=False) as stack:
        with pytest.raises(UnknownRouteError, match="smart-agent"):
            await collect(stack, ask(route="nope"))


async def test_a_model_alias_is_a_route_of_that_one_step(nodes: Nodes, tmp_path: Path) -> None:
    async with InferenceStack.open(settings_for(nodes, tmp_path), probes=False) as stack:
        text, done = await collect(stack, ask(route="ollama-qwen"))
        assert (text, done.node, done.model, done.route) == (
            "from ollama", "ollama", "ollama-qwen", "ollama-qwen")
        assert nodes.mlx.requests_to("/v1/chat/completions") == []
        assert [s.alias for s in stack.chain.steps("ollama-qwen")] == ["ollama-qwen"]


async def test_a_model_alias_does_not_fall_back(nodes: Nodes, tmp_path: Path) -> None:
    nodes.ollama.script = Script.http_error(503)
    async with InferenceStack.open(settings_for(nodes, tmp_path), probes=False) as stack:
        with pytest.raises(AllStepsFailed) as caught:
            await collect(stack, ask(route="ollama-qwen"))
        assert [f.model for f in caught.value.failures] == ["ollama-qwen"]
        assert nodes.anthropic.requests == []


@pytest.mark.parametrize("node", ["mlx", "ollama", "anthropic"])
async def test_protocol_error_mid_stream_ends_with_marker(
    nodes: Nodes, tmp_path: Path, client: NodeClient, node: str
) -> None:
    crash = Script.error_mid_stream("model runner crashed", reply="abcdefgh")
    order = ["mlx", "ollama", "anthropic"]
    for name in order[: order.index(node)]:
        getattr(nodes, name).script = Script.http_error(503)
    getattr(nodes, node).script = crash
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, done = await collect(stack, ask())
    assert (done.node, done.fallback_depth) == (node, order.index(node))
    assert text.startswith("abcd\n\n[reply interrupted: ")
    assert done.interrupted is not None and "model runner crashed" in done.interrupted


async def test_context_too_long_is_returned_at_once(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.http_error(
        400, message="This model's maximum context length is 32768 tokens. However, your "
        "messages resulted in 40000 tokens. Please reduce the length of the messages.")
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        with pytest.raises(ContextTooLong, match="maximum context length") as caught:
            await collect(stack, ask("x" * 1000))
    assert caught.value.kind == "context_too_long"
    assert nodes.ollama.requests_to("/api/chat") == []


async def test_stopping_early_closes_the_upstream_stream(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script(reply="x" * 400, chunk_chars=1, chunk_delay=0.01)
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        events = stack.stream(ask())
        first = await anext(events)
        assert isinstance(first, TextDelta)
        await events.aclose()
        await stack.ledger.flush()
        db = await stack.database()
        outcome = await db.fetchval("SELECT outcome FROM ledger")
    assert outcome == "cancelled"


async def test_ollama_error_line_before_any_text_falls_through(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.http_error(503)
    nodes.ollama.script = Script(reply="", failure=ErrorMidStream("model failed to load"))
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, done = await collect(stack, ask())
    assert (text, done.node, done.fallback_depth) == ("from claude", "anthropic", 2)
    assert done.fell_back_from[1].startswith("ollama-qwen (unavailable: ")
    assert "model failed to load" in done.fell_back_from[1]


async def test_a_second_stack_in_the_same_process_works(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    settings = settings_for(nodes, tmp_path, client)
    for _ in range(2):
        async with InferenceStack.open(settings, probes=False) as stack:
            text, _ = await collect(stack, ask(use_cache=False))
            assert text == "from mlx"
