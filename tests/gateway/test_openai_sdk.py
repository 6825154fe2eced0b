"""The official ``openai`` SDK (sync and async) against the gateway: whole and streamed
replies, tools, usage, fallback, the cache and the ledger's key name."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from inference.errors import StoreError
from tests.gateway.conftest import Nodes, StartGateway
from tests.support.gateway import RunningGateway
from tests.support.standins import Script, ScriptedCall, refused_url

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def sync_client(gw: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0)


def async_client(gw: RunningGateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.v1, api_key="unused", max_retries=0)


async def test_sync_sdk_gets_a_whole_completion_from_the_first_step(
        gw: RunningGateway, nodes: Nodes) -> None:
    client = sync_client(gw)
    reply = await asyncio.to_thread(
        client.chat.completions.create, model="smart-agent",
        messages=[{"role": "user", "content": "hello there"}])
    assert reply.object == "chat.completion"
    assert reply.model == "smart-agent"
    assert reply.choices[0].message.content == "from mlx"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    sent = nodes.mlx.requests_to("/v1/chat/completions")[-1].body
    assert sent["messages"] == [{"role": "user", "content": "hello there"}]


async def test_async_sdk_streams_deltas_then_usage_when_asked(gw: RunningGateway) -> None:
    client = async_client(gw)
    stream = await client.chat.completions.create(
        model="smart-agent", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "from mlx"
    assert all(c.object == "chat.completion.chunk" and c.model == "smart-agent" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


async def test_without_include_usage_no_usage_chunk_is_sent(gw: RunningGateway) -> None:
    stream = await async_client(gw).chat.completions.create(
        model="smart-agent", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.choices and c.usage is None for c in chunks)


async def test_sync_sdk_streams_too(gw: RunningGateway) -> None:
    def run() -> str:
        stream = sync_client(gw).chat.completions.create(
            model="smart-agent", messages=[{"role": "user", "content": "hi"}], stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert await asyncio.to_thread(run) == "from mlx"


async def test_tool_calls_come_back_in_openai_shape(gw: RunningGateway, nodes: Nodes) -> None:
    nodes.mlx.queue(Script.calling(ScriptedCall("get_weather", {"city": "Oslo"}, id="call_1")))
    reply = await async_client(gw).chat.completions.create(
        model="smart-agent", messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[WEATHER_TOOL], tool_choice="auto")  # type: ignore[list-item]
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id == "call_1" and call.type == "function"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
    sent = nodes.mlx.requests_to("/v1/chat/completions")[-1].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == "auto"


async def test_streamed_tool_call_deltas_reassemble(gw: RunningGateway, nodes: Nodes) -> None:
    nodes.mlx.queue(Script.calling(ScriptedCall("get_weather", {"city": "Oslo"}, id="call_a"),
                                   ScriptedCall("get_weather", {"city": "Rome"}, id="call_b")))
    stream = await async_client(gw).chat.completions.create(
        model="smart-agent", messages=[{"role": "user", "content": "two cities"}],
        tools=[WEATHER_TOOL], stream=True)  # type: ignore[list-item]
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or ():
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            if delta.function is not None:
                entry["name"] += delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    got = [(c["id"], c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())]
    assert got == [("call_a", "get_weather", {"city": "Oslo"}),
                   ("call_b", "get_weather", {"city": "Rome"})]


async def test_the_sdks_tool_round_trip_is_accepted(gw: RunningGateway, nodes: Nodes) -> None:
    """The assistant message the SDK gave back (with its tool call) and the tool's result
    go to the node as the chain's messages."""
    nodes.mlx.queue(Script.calling(ScriptedCall("get_weather", {"city": "Oslo"}, id="call_1")))
    client = async_client(gw)
    asked = [{"role": "user", "content": "weather in Oslo?"}]
    first = await client.chat.completions.create(model="smart-agent", messages=asked,  # type: ignore[arg-type]
                                                 tools=[WEATHER_TOOL])  # type: ignore[list-item]
    follow_up = [*asked, first.choices[0].message.model_dump(),
                 {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    second = await client.chat.completions.create(model="smart-agent", messages=follow_up,  # type: ignore[arg-type]
                                                  tools=[WEATHER_TOOL])  # type: ignore[list-item]
    assert second.choices[0].message.content == "from mlx"
    sent = nodes.mlx.requests_to("/v1/chat/completions")[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == "call_1"


async def test_models_lists_routes_aliases_and_agents_with_their_kind(gw: RunningGateway) -> None:
    models = await async_client(gw).models.list()
    kinds = {m.id: (m.model_extra or {})["homecrew"]["kind"] for m in models.data}
    assert kinds["smart-agent"] == "route"
    assert kinds["ollama-qwen"] == "model"
    assert kinds["nellie"] == "agent"
    assert all(m.object == "model" and m.owned_by for m in models.data)


async def test_a_model_alias_runs_that_one_step(gw: RunningGateway, nodes: Nodes) -> None:
    reply = await async_client(gw).chat.completions.with_raw_response.create(
        model="ollama-qwen", messages=[{"role": "user", "content": "hi"}])
    assert reply.parse().choices[0].message.content == "from ollama"
    assert reply.headers["x-homecrew-node"] == "ollama"
    assert nodes.mlx.requests_to("/v1/chat/completions") == []


async def test_an_agent_gets_her_persona_prompt_first(gw: RunningGateway, nodes: Nodes) -> None:
    await async_client(gw).chat.completions.create(
        model="nellie", messages=[{"role": "user", "content": "find papers"}])
    sent = nodes.mlx.requests_to("/v1/chat/completions")[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "You are Nellie, the research specialist."}
    assert sent[1] == {"role": "user", "content": "find papers"}


async def test_unknown_model_is_a_404_listing_the_valid_names(gw: RunningGateway) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await async_client(gw).chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    message = caught.value.message
    assert "gpt-9" in message and "smart-agent" in message and "nellie" in message


async def test_falls_back_when_the_first_node_is_down(start_gateway: StartGateway) -> None:
    async with start_gateway(mlx_url=refused_url() + "/v1") as gw:
        reply = await async_client(gw).chat.completions.with_raw_response.create(
            model="smart-agent", messages=[{"role": "user", "content": "hi"}])
        assert reply.parse().choices[0].message.content == "from ollama"
        assert reply.headers["x-homecrew-fallback-depth"] == "1"


async def test_a_repeat_is_a_cache_hit(gw: RunningGateway, nodes: Nodes) -> None:
    client = async_client(gw)
    ask = {"model": "smart-agent", "messages": [{"role": "user", "content": "same question"}]}
    first = await client.chat.completions.with_raw_response.create(**ask)  # type: ignore[call-overload]
    second = await client.chat.completions.with_raw_response.create(**ask)  # type: ignore[call-overload]
    assert first.headers["x-homecrew-cached"] == "false"
    assert second.headers["x-homecrew-cached"] == "true"
    assert second.parse().choices[0].message.content == "from mlx"
    assert len(nodes.mlx.requests_to("/v1/chat/completions")) == 1


async def test_the_ledger_records_the_key_name(gw: RunningGateway) -> None:
    await async_client(gw).chat.completions.create(
        model="nellie", messages=[{"role": "user", "content": "count me"}])
    try:
        assert await gw.stack.ledger.settle(5)
    except StoreError:
        pytest.fail("ledger unreachable")
    db = await gw.stack.database()
    rows = await db.fetch("SELECT key_name, agent, route, node FROM ledger")
    assert [(r["key_name"], r["agent"], r["route"], r["node"]) for r in rows] == [
        ("local", "nellie", "smart-agent", "mlx")]
