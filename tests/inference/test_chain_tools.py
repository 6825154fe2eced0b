# ruff: noqa: F811  (pytest fixtures imported from test_chain are parameters here)
"""Tool calls through the whole chain against the protocol stand-ins: each wire shape
(OpenAI SSE, OpenAI JSON, Ollama NDJSON, Anthropic through LiteLLM), malformed calls,
fall-through with the tool history intact, models that cannot call tools, and the cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inference.config import NodeClient
from inference.runtime import InferenceStack
from inference.types import (
    BadArguments,
    ChatRequest,
    Message,
    ModelToolCall,
    ReplyDone,
    TextDelta,
    ToolFunction,
)

# the chain tests' fixtures (nodes, client) are reused here
from tests.inference.test_chain import Nodes, client, nodes, settings_for  # noqa: F401
from tests.support.standins import Script, ScriptedCall

FETCH = ToolFunction("fetch__fetch", "Fetch a web page", {
    "type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]})
CALL = ScriptedCall("fetch__fetch", {"url": "https://docs.example.org/a"}, id="call_abc")
HISTORY = (
    Message("system", "You are Nellie."),
    Message("user", "what does the page say?"),
    Message("assistant", "Let me look.", tool_calls=(
        ModelToolCall("call_abc", "fetch__fetch", '{"url": "https://docs.example.org/a"}'),)),
    Message("tool", "The page says: hello.", tool_call_id="call_abc", name="fetch__fetch"),
)


def ask(messages: tuple[Message, ...] = HISTORY[:2], **kw: Any) -> ChatRequest:
    return ChatRequest(route="smart-agent", messages=messages, agent="nellie",
                       tools=(FETCH,), **kw)


async def collect(stack: InferenceStack, request: ChatRequest
                  ) -> tuple[str, list[ModelToolCall], ReplyDone]:
    text: list[str] = []
    calls: list[ModelToolCall] = []
    done: ReplyDone | None = None
    async for event in stack.stream(request):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ModelToolCall):
            calls.append(event)
        else:
            done = event
    assert done is not None
    return "".join(text), calls, done


@pytest.mark.parametrize("stream", [True, False])
async def test_openai_sse_tool_calls_are_assembled(
    nodes: Nodes, tmp_path: Path, client: NodeClient, stream: bool
) -> None:
    nodes.mlx.script = Script.calling(CALL, reply="Let me look.")
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, calls, done = await collect(stack, ask(stream=stream))
    assert text == "Let me look."
    assert calls == [ModelToolCall("call_abc", "fetch__fetch",
                                   '{"url": "https://docs.example.org/a"}')]
    assert done.tool_calls == tuple(calls)
    assert (done.finish_reason, done.node) == ("tool_calls", "mlx")
    sent = nodes.mlx.requests_to("/v1/chat/completions")[0].body
    assert sent["tools"][0]["function"]["name"] == "fetch__fetch"


async def test_a_non_streamed_openai_json_answer_with_tool_calls(
    nodes: Nodes, tmp_path: Path
) -> None:
    document = {"id": "x", "object": "chat.completion", "choices": [{
        "index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_json", "type": "function",
            "function": {"name": "fetch__fetch", "arguments": '{"url": "https://a.example"}'}}]}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}}
    nodes.mlx.script = Script.http_error(200, body=document)  # JSON although asked to stream
    async with InferenceStack.open(settings_for(nodes, tmp_path, "native"),
                                   probes=False) as stack:
        text, calls, done = await collect(stack, ask())
    assert text == ""
    assert calls == [ModelToolCall("call_json", "fetch__fetch", '{"url": "https://a.example"}')]
    assert (done.finish_reason, done.prompt_tokens, done.completion_tokens) == (
        "tool_calls", 12, 7)


async def test_ollama_ndjson_tool_calls_get_ids(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.http_error(503)
    nodes.ollama.script = Script.calling(ScriptedCall("fetch__fetch", {"url": "https://b.example"}),
                                         ScriptedCall("fetch__fetch", {"url": "https://c.example"}))
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        _, calls, done = await collect(stack, ask())
    assert [c.decoded() for c in calls] == [{"url": "https://b.example"},
                                            {"url": "https://c.example"}]
    assert all(c.id for c in calls) and calls[0].id != calls[1].id
    assert (done.node, done.finish_reason) == ("ollama", "tool_calls")
    assert nodes.ollama.requests_to("/api/chat")[0].body["tools"][0]["type"] == "function"


async def test_anthropic_tool_use_through_litellm(nodes: Nodes, tmp_path: Path) -> None:
    nodes.mlx.script = Script.http_error(503)
    nodes.ollama.script = Script.http_error(404)
    nodes.anthropic.script = Script.calling(
        ScriptedCall("fetch__fetch", {"url": "https://d.example"}, id="toolu_1"),
        reply="Checking.")
    async with InferenceStack.open(settings_for(nodes, tmp_path), probes=False) as stack:
        text, calls, done = await collect(stack, ask(HISTORY))
    assert text == "Checking."
    assert [(c.id, c.name, c.decoded()) for c in calls] == [
        ("toolu_1", "fetch__fetch", {"url": "https://d.example"})]
    assert (done.node, done.finish_reason) == ("anthropic", "tool_calls")
    sent = nodes.anthropic.requests_to("/v1/messages")[0].body
    assert sent["tools"][0]["name"] == "fetch__fetch"
    # the tool history in Anthropic's shape: a tool_use block, then a tool_result block
    blocks = [b for m in sent["messages"] if isinstance(m["content"], list)
              for b in m["content"]]
    assert {"tool_use", "tool_result"} <= {b["type"] for b in blocks}
    result = next(b for b in blocks if b["type"] == "tool_result")
    assert result["tool_use_id"] == "call_abc"


async def test_malformed_arguments_arrive_as_a_value_not_a_crash(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.calling(ScriptedCall("fetch__fetch", '{"url": "https://x', id="c1"))
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        _, calls, done = await collect(stack, ask())
    assert [c.id for c in calls] == ["c1"]
    problem = calls[0].decoded()
    assert isinstance(problem, BadArguments) and "not valid JSON" in problem.reason
    assert done.finish_reason == "tool_calls"


async def test_fail_over_mid_loop_keeps_the_tool_history(
    nodes: Nodes, tmp_path: Path, client: NodeClient
) -> None:
    nodes.mlx.script = Script.http_error(500)
    nodes.ollama.script = Script(reply="The page says hello [https://docs.example.org/a].")
    async with InferenceStack.open(settings_for(nodes, tmp_path, client), probes=False) as stack:
        text, calls, done = await collect(stack, ask(HISTORY))
    assert text.startswith("The page says hello")
    assert calls == [] and done.node == "ollama" and done.tool_calls == ()
    messages = nodes.ollama.requests_to("/api/chat")[0].body["messages"]
    assistant, tool = messages[2], messages[3]
    assert assistant["tool_calls"][0]["function"]["name"] == "fetch__fetch"
    arguments = assistant["tool_calls"][0]["function"]["arguments"]
    if isinstance(arguments, str):  # LiteLLM may pass them on as text
        arguments = json.loads(arguments)
    assert arguments == {"url": "https://docs.example.org/a"}
    assert (tool["role"], tool["content"]) == ("tool", "The page says: hello.")


async def test_a_model_without_tool_support_falls_through(nodes: Nodes, tmp_path: Path) -> None:
    """``mlx_daemon`` answers 400 ``tools_unsupported`` for a model whose template has no
    tool calls: the next step takes the request (any other 400 ends it, see test_chain)."""
    nodes.mlx.script = Script.http_error(400, body={"error": {
        "message": "The model cannot call tools here", "type": "invalid_request_error",
        "param": "tools", "code": "tools_unsupported"}})
    nodes.ollama.script = Script.calling(ScriptedCall("fetch__fetch", {"url": "https://e.example"}))
    async with InferenceStack.open(settings_for(nodes, tmp_path, "native"),
                                   probes=False) as stack:
        _, calls, done = await collect(stack, ask())
    assert done.node == "ollama" and len(calls) == 1
    assert done.fell_back_from[0].startswith("mlx-qwen (tools_unsupported: ")


async def test_replies_with_tool_calls_are_not_cached(nodes: Nodes, tmp_path: Path) -> None:
    nodes.mlx.script = Script.calling(CALL)
    settings = settings_for(nodes, tmp_path, "native", cache={"ttl": 600, "redis_url": ""})
    async with InferenceStack.open(settings, probes=False) as stack:
        _, first, _ = await collect(stack, ask())
        _, second, done = await collect(stack, ask())
    assert first == second and not done.cached
    assert len(nodes.mlx.requests_to("/v1/chat/completions")) == 2
