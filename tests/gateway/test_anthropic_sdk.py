"""The official ``anthropic`` SDK (sync and async) against the gateway's ``/v1/messages``:
whole and streamed replies, tool use and its round trip, fallback, a mid-stream failure, a
client going away, the key in ``x-api-key`` and the error shapes (404, 400, 413, 503) as
the SDK's own exceptions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pytest

from gateway.config import GatewaySettings
from gateway.gate import open_key_gate
from gateway.keys import KeyStore
from inference.config import InferenceSettings
from inference.errors import StoreError
from store import Database
from tests.gateway.conftest import NELLIE, Nodes, StartGateway
from tests.gateway.gate_settings import GateSettings
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.standins import Script, ScriptedCall, refused_url

HI = [{"role": "user", "content": "hi"}]
WEATHER_TOOL = {"name": "get_weather", "description": "The weather in a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                 "required": ["city"]}}


def sync_client(gw: RunningGateway, key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def async_client(gw: RunningGateway, key: str = "unused") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0)


def sent_messages(nodes: Nodes) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = nodes.mlx.requests_to("/v1/chat/completions")[-1].body[
        "messages"]
    return messages


async def test_sync_sdk_gets_a_whole_message_from_the_first_step(
        gw: RunningGateway, nodes: Nodes) -> None:
    message = await asyncio.to_thread(
        sync_client(gw).messages.create, model="smart-agent", max_tokens=256,
        system="Be brief.", messages=[{"role": "user", "content": "hello there"}])
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "smart-agent" and message.id.startswith("msg_")
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
        ("text", "from mlx")]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = nodes.mlx.requests_to("/v1/chat/completions")[-1].body
    assert sent["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "hello there"}]
    assert sent["max_tokens"] == 256


async def test_async_sdk_streams_with_its_message_stream_helper(gw: RunningGateway,
                                                                nodes: Nodes) -> None:
    # paced, so the node's deltas arrive in separate reads (the native edge passes on what
    # one read holds as one piece)
    nodes.mlx.script = Script(reply="from mlx", chunk_delay=0.02)
    async with async_client(gw).messages.stream(model="smart-agent", max_tokens=64,
                                                messages=HI) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == "from mlx" and len(pieces) > 1
    assert final.model == "smart-agent" and final.stop_reason == "end_turn"
    assert [(b.type, getattr(b, "text", None)) for b in final.content] == [
        ("text", "from mlx")]
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


async def test_raw_streamed_events_come_in_anthropic_order(gw: RunningGateway) -> None:
    stream = await async_client(gw).messages.create(model="smart-agent", max_tokens=64,
                                                    messages=HI, stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_sync_sdk_streams_too(gw: RunningGateway) -> None:
    def run() -> str:
        with sync_client(gw).messages.stream(model="nellie", max_tokens=64,
                                             messages=HI) as stream:
            return "".join(stream.text_stream)

    assert await asyncio.to_thread(run) == "from mlx"


async def test_a_tool_use_block_comes_back(gw: RunningGateway, nodes: Nodes) -> None:
    nodes.mlx.queue(Script.calling(ScriptedCall("get_weather", {"city": "Oslo"}, id="call_1")))
    message = await async_client(gw).messages.create(
        model="smart-agent", max_tokens=64, tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "any"}, messages=[{"role": "user", "content": "Oslo?"}])
    assert message.stop_reason == "tool_use"
    uses = [block for block in message.content if block.type == "tool_use"]
    assert [(u.id, u.name, u.input) for u in uses] == [("call_1", "get_weather",
                                                        {"city": "Oslo"})]
    sent = nodes.mlx.requests_to("/v1/chat/completions")[-1].body
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": WEATHER_TOOL["input_schema"]}}]
    assert sent["tool_choice"] == "required"


async def test_streamed_tool_use_accumulates_in_the_sdk(gw: RunningGateway,
                                                        nodes: Nodes) -> None:
    nodes.mlx.queue(Script.calling(ScriptedCall("get_weather", {"city": "Oslo"}, id="call_a"),
                                   ScriptedCall("get_weather", {"city": "Rome"}, id="call_b"),
                                   reply="Looking."))
    async with async_client(gw).messages.stream(
            model="smart-agent", max_tokens=64, tools=[WEATHER_TOOL],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "two cities"}]) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "text", None) or getattr(b, "input", None))
            for b in final.content] == [("text", "Looking."),
                                        ("tool_use", {"city": "Oslo"}),
                                        ("tool_use", {"city": "Rome"})]


async def test_the_tool_result_turn_round_trips(gw: RunningGateway, nodes: Nodes) -> None:
    """The SDK's own reply content goes back as the assistant turn, with a tool_result:
    the node gets them as the assistant's tool call and the tool's answer."""
    nodes.mlx.queue(Script.calling(ScriptedCall("get_weather", {"city": "Oslo"}, id="call_1")))
    client = async_client(gw)
    asked: list[Any] = [{"role": "user", "content": "weather in Oslo?"}]
    first = await client.messages.create(model="smart-agent", max_tokens=64,
                                         tools=[WEATHER_TOOL], messages=asked)  # type: ignore[list-item]
    follow_up = [*asked, {"role": "assistant", "content": first.content},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}]}]
    second = await client.messages.create(model="smart-agent", max_tokens=64,
                                          tools=[WEATHER_TOOL], messages=follow_up)  # type: ignore[list-item]
    assert [getattr(b, "text", None) for b in second.content] == ["from mlx"]
    sent = sent_messages(nodes)
    assert sent[1]["role"] == "assistant"
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in sent[1]["tool_calls"]] == [("call_1", "get_weather", {"city": "Oslo"})]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"} | (
        {"name": "get_weather"} if "name" in sent[2] else {})


async def test_falls_back_when_the_first_node_is_down(start_gateway: StartGateway) -> None:
    async with start_gateway(mlx_url=refused_url() + "/v1") as gw:
        raw = await async_client(gw).messages.with_raw_response.create(
            model="smart-agent", max_tokens=64, messages=HI)
        assert [getattr(b, "text", None) for b in (await raw.parse()).content] == [
            "from ollama"]
        assert raw.headers["x-homecrew-fallback-depth"] == "1"
        async with async_client(gw).messages.stream(model="smart-agent", max_tokens=64,
                                                    messages=HI) as stream:
            assert "".join([t async for t in stream.text_stream]) == "from ollama"


async def test_a_node_failing_mid_stream_ends_with_an_error_the_sdk_raises(
        gw: RunningGateway, nodes: Nodes) -> None:
    nodes.mlx.queue(Script.error_mid_stream("model runner crashed", reply="abcdefgh"))
    seen: list[str] = []

    async def read() -> None:
        async with async_client(gw).messages.stream(model="smart-agent", max_tokens=64,
                                                    messages=HI) as stream:
            async for text in stream.text_stream:
                seen.append(text)

    with pytest.raises(anthropic.APIStatusError) as caught:
        await read()
    assert "".join(seen) == "abcd"
    assert "model runner crashed" in caught.value.message
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "api_error"
    assert nodes.ollama.requests_to("/api/chat") == []  # committed: no fallback mid-reply


async def test_a_client_going_away_cancels_the_node_request(gw: RunningGateway,
                                                           nodes: Nodes) -> None:
    nodes.mlx.queue(Script(reply="x" * 400, chunk_chars=2, chunk_delay=0.05))
    async with async_client(gw).messages.stream(model="smart-agent", max_tokens=64,
                                                messages=HI) as stream:
        async for _ in stream.text_stream:
            break  # leaving the block closes the response mid-reply
    async with asyncio.timeout(5):
        await nodes.mlx.wait_for_disconnects(1)
    assert nodes.ollama.requests == [] and nodes.anthropic.requests == []


async def test_unknown_model_is_the_sdk_s_not_found_error_listing_names(
        gw: RunningGateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await async_client(gw).messages.create(model="claude-9", max_tokens=64, messages=HI)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "not_found_error"
    message = caught.value.message
    assert "claude-9" in message and "smart-agent" in message and "nellie" in message


@pytest.mark.parametrize(("extra", "param"), [
    ({"extra_body": {"top_k": 5}}, "top_k"),
    ({"extra_body": {"temperature": 1.5}}, "temperature"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "http://127.0.0.1/x.png"}}]}]},
     "messages.0.content.0.type"),
])
async def test_a_bad_field_is_the_sdk_s_bad_request_naming_it(
        gw: RunningGateway, extra: dict[str, Any], param: str) -> None:
    ask: dict[str, Any] = {"model": "smart-agent", "max_tokens": 64, "messages": HI} | extra
    with pytest.raises(anthropic.BadRequestError) as caught:
        await async_client(gw).messages.create(**ask)
    assert isinstance(caught.value.body, dict)
    error = caught.value.body["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(param)


async def test_a_body_over_the_limit_is_a_413(gw: RunningGateway) -> None:
    big = [{"role": "user", "content": "x" * 70_000}]  # the gateway's limit is 64 KiB here
    with pytest.raises(anthropic.APIStatusError) as caught:
        await async_client(gw).messages.create(model="smart-agent", max_tokens=64,
                                               messages=big)  # type: ignore[arg-type]
    assert caught.value.status_code == 413
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "request_too_large"
    assert "max_body_bytes" in caught.value.body["error"]["message"]


@pytest.mark.parametrize("streamed", [False, True])
async def test_no_step_answering_is_a_503_overloaded(gw: RunningGateway, nodes: Nodes,
                                                    streamed: bool) -> None:
    for node in (nodes.mlx, nodes.ollama, nodes.anthropic):
        node.script = Script.http_error(503)
    with pytest.raises(anthropic.InternalServerError) as caught:
        await async_client(gw).messages.create(model="smart-agent", max_tokens=64,
                                               messages=HI, stream=streamed)
    assert caught.value.status_code == 503
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert "mlx-qwen" in caught.value.body["error"]["message"]


async def test_the_key_works_as_the_sdk_sends_it_and_as_x_api_key(
        settings: InferenceSettings, gateway_settings: GatewaySettings, db: Database) -> None:
    async with open_key_gate(GateSettings(), db) as gate:
        key = await (await KeyStore.open(db)).create("team-a",
                                                     known_routes=tuple(settings.routes))
        await gate.reload()
        async with running_gateway(settings, agents=[NELLIE], gateway=gateway_settings,
                                   gate=gate) as gw:
            with pytest.raises(anthropic.AuthenticationError) as caught:
                await async_client(gw, key="hc-wrong").messages.create(
                    model="smart-agent", max_tokens=64, messages=HI)
            assert isinstance(caught.value.body, dict)
            assert caught.value.body["error"]["type"] == "authentication_error"
            message = await async_client(gw, key=key.secret).messages.create(
                model="smart-agent", max_tokens=64, messages=HI)
            assert [getattr(b, "text", None) for b in message.content] == ["from mlx"]
            status, reply = await curl_messages(gw, "-H", f"x-api-key: {key.secret}",
                                                "-H", "anthropic-version: 2023-06-01")
            assert status == 200 and reply["content"][0]["text"] == "from mlx"
            status, reply = await curl_messages(gw)
            assert status == 401 and reply["error"]["type"] == "authentication_error"
            try:
                assert await gw.stack.ledger.settle(5)
            except StoreError:
                pytest.fail("ledger unreachable")
            rows = await (await gw.stack.database()).fetch(
                "SELECT key_name, cache_hit FROM ledger ORDER BY ts")
            assert [(r["key_name"], bool(r["cache_hit"])) for r in rows] == [
                ("team-a", False), ("team-a", True)]


async def curl_messages(gw: RunningGateway, *headers: str) -> tuple[int, dict[str, Any]]:
    """``curl`` posting a small Messages call (no ``anthropic-version`` unless given)."""
    body = json.dumps({"model": "smart-agent", "max_tokens": 64, "messages": HI})
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "-", "-w", "\n%{http_code}", f"{gw.url}/v1/messages",
        "-H", "content-type: application/json", *headers, "--data-binary", body,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text, _, status = out.decode().rpartition("\n")
    return int(status), json.loads(text)


async def test_curl_without_anthropic_version_is_answered(gw: RunningGateway) -> None:
    status, reply = await curl_messages(gw)
    assert status == 200
    assert reply["type"] == "message" and reply["content"][0]["text"] == "from mlx"
