"""``POST /v1/messages/count_tokens`` through the official ``anthropic`` SDK's
``messages.count_tokens``: homecrew's estimate (``inference.tokens``) of the system prompt,
the messages, tool calls and results and the tools; the keys, names and 400s of
``/v1/messages``; no model called, nothing ledgered; the endpoint on ``/metrics``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import anthropic
import pytest

from gateway.config import GatewaySettings
from gateway.gate import open_key_gate
from gateway.keys import KeyStore
from gateway.metrics import GatewayMetrics
from inference.config import InferenceSettings
from inference.errors import StoreError
from inference.tokens import MESSAGE_OVERHEAD, estimate_tokens
from store import Database
from tests.gateway.conftest import NELLIE, Nodes
from tests.gateway.gate_settings import GateSettings
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.prometheus import sample

COUNT = "/v1/messages/count_tokens"
HI: list[Any] = [{"role": "user", "content": "hi"}]
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather", "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]}}
ASKED: list[Any] = [{"role": "user", "content": "weather in Oslo?"}]
ROUND_TRIP: list[Any] = [
    *ASKED,
    {"role": "assistant", "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1",
         "content": [{"type": "text", "text": "sunny, 21 degrees"}]}]},
]


def client(gw: RunningGateway, key: str = "unused") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0)


async def count(gw: RunningGateway, **ask: Any) -> int:
    tokens = await client(gw).messages.count_tokens(**({"model": "smart-agent"} | ask))
    assert isinstance(tokens.input_tokens, int)
    return tokens.input_tokens


async def post_count(gw: RunningGateway, body: dict[str, Any], **headers: str
                     ) -> tuple[int, dict[str, Any]]:
    """A raw ``count_tokens`` POST: no SDK, no key unless given."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{gw.url}{COUNT}", json=body, headers=headers) as response:
        return response.status, await response.json()


def anthropic_error(body: object) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"type", "error"}
    assert body["type"] == "error"
    error: dict[str, Any] = body["error"]
    assert set(error) == {"type", "message"}
    return error


async def test_the_sdk_gets_the_estimate_which_grows_with_the_text(
        gw: RunningGateway) -> None:
    short = await count(gw, system="Be brief.",
                        messages=[{"role": "user", "content": "hello there"}])
    # "Be brief." (9 characters) and "hello there" (11): 3 tokens and 4 of framing each
    assert short == 2 * (3 + MESSAGE_OVERHEAD) == 14
    assert short == estimate_tokens("Be brief.") + estimate_tokens("hello there")
    longer = await count(gw, system="Be brief.",
                         messages=[{"role": "user", "content": "hello there " * 50}])
    assert longer == estimate_tokens("Be brief.") + estimate_tokens("hello there " * 50)
    assert longer > short


async def test_system_blocks_and_every_turn_count(gw: RunningGateway) -> None:
    turns: list[Any] = [{"role": "user", "content": "one"},
                        {"role": "assistant", "content": "two two"},
                        {"role": "user", "content": [{"type": "text", "text": "three"},
                                                     {"type": "text", "text": "four"}]}]
    tokens = await count(gw, system=[{"type": "text", "text": "Be"},
                                     {"type": "text", "text": "brief."}], messages=turns)
    assert tokens == (estimate_tokens("Be\nbrief.") + estimate_tokens("one")
                      + estimate_tokens("two two") + estimate_tokens("three\nfour"))


async def test_tools_tool_calls_and_tool_results_are_counted(gw: RunningGateway) -> None:
    with_tools = await count(gw, messages=ROUND_TRIP, tools=[WEATHER_TOOL])
    assert with_tools == (
        estimate_tokens("weather in Oslo?")
        + estimate_tokens("Let me look." + json.dumps({"city": "Oslo"}))  # text, then input
        + estimate_tokens("sunny, 21 degrees")  # the tool's result
        + estimate_tokens(json.dumps(WEATHER_TOOL)))  # name, description and schema
    without_tools = await count(gw, messages=ROUND_TRIP)
    assert with_tools - without_tools == estimate_tokens(json.dumps(WEATHER_TOOL))
    asked_only = await count(gw, messages=ASKED, tools=[WEATHER_TOOL])
    assert asked_only < with_tools


async def test_an_agent_s_count_includes_her_persona_prompt(gw: RunningGateway) -> None:
    route = await count(gw, model="smart-agent", system="Be brief.", messages=HI)
    agent = await count(gw, model="nellie", system="Be brief.", messages=HI)
    assert agent - route == estimate_tokens(NELLIE.system_prompt)


async def test_max_tokens_is_not_required_but_is_for_messages(gw: RunningGateway) -> None:
    body = {"model": "smart-agent", "messages": HI}
    status, counted = await post_count(gw, body)
    assert status == 200 and counted == {"input_tokens": estimate_tokens("hi")}
    status, with_max = await post_count(gw, body | {"max_tokens": 64})
    assert status == 200 and with_max == counted  # the Messages body as is counts too
    async with aiohttp.ClientSession() as session, session.post(
            f"{gw.url}/v1/messages", json=body) as response:
        assert response.status == 400
        assert anthropic_error(await response.json())["message"].startswith("max_tokens")


async def test_an_unknown_model_is_a_404_in_anthropic_s_shape(gw: RunningGateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await count(gw, model="claude-9", messages=HI)
    error = anthropic_error(caught.value.body)
    assert error["type"] == "not_found_error"
    assert all(name in error["message"] for name in ("claude-9", "smart-agent", "nellie"))


@pytest.mark.parametrize(("extra", "param"), [
    ({"extra_body": {"top_k": 5}}, "top_k"),
    ({"extra_body": {"frobnicate": 1}}, "frobnicate"),
    ({"extra_body": {"mcp_servers": [{"type": "url", "url": "http://127.0.0.1:1",
                                      "name": "x"}]}}, "mcp_servers"),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "http://127.0.0.1/x.png"}}]}]},
     "messages.0.content.0.type"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type"),
])
async def test_an_unsupported_field_is_a_400_naming_it(
        gw: RunningGateway, extra: dict[str, Any], param: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await count(gw, **({"messages": HI} | extra))
    error = anthropic_error(caught.value.body)
    assert error["type"] == "invalid_request_error" and error["message"].startswith(param)


async def test_keys_scopes_and_rates_are_those_of_messages(
        settings: InferenceSettings, gateway_settings: GatewaySettings, db: Database) -> None:
    ask: dict[str, Any] = {"model": "smart-agent", "messages": HI}
    async with open_key_gate(GateSettings(), db) as gate:
        keys = await KeyStore.open(db)
        known = tuple(settings.routes)
        full = await keys.create("team-a", known_routes=known, rpm=2)
        scoped = await keys.create("ci", known_routes=known, routes=["chief-monitor"])
        await gate.reload()
        async with running_gateway(settings, agents=[NELLIE], gateway=gateway_settings,
                                   gate=gate) as gw:
            status, body = await post_count(gw, ask)
            assert status == 401 and anthropic_error(body)["type"] == "authentication_error"
            with pytest.raises(anthropic.AuthenticationError):
                await client(gw, key="hc-wrong").messages.count_tokens(**ask)
            with pytest.raises(anthropic.PermissionDeniedError) as denied:
                await client(gw, key=scoped.secret).messages.count_tokens(**ask)
            assert anthropic_error(denied.value.body)["type"] == "permission_error"
            status, body = await post_count(gw, ask, Authorization=f"Bearer {full.secret}")
            assert status == 200 and body["input_tokens"] == estimate_tokens("hi")
            tokens = await client(gw, key=full.secret).messages.count_tokens(**ask)
            assert tokens.input_tokens == estimate_tokens("hi")  # x-api-key, as the SDK sends it
            with pytest.raises(anthropic.RateLimitError) as limited:
                await client(gw, key=full.secret).messages.count_tokens(**ask)
            assert int(limited.value.response.headers["retry-after"]) >= 1
            assert anthropic_error(limited.value.body)["type"] == "rate_limit_error"


async def test_no_model_is_called_and_nothing_is_ledgered(gw: RunningGateway,
                                                         nodes: Nodes) -> None:
    await count(gw, messages=ROUND_TRIP, tools=[WEATHER_TOOL])
    await count(gw, model="nellie", messages=HI)
    await asyncio.sleep(0.05)  # anything sent would have arrived on loopback by now
    assert nodes.mlx.requests == [] and nodes.ollama.requests == []
    assert nodes.anthropic.requests == []
    # one real reply, so the ledger is known to be working: its record is the only one
    await client(gw).messages.create(model="smart-agent", max_tokens=64, messages=HI)
    assert len(nodes.mlx.requests_to("/v1/chat/completions")) == 1
    try:
        assert await gw.stack.ledger.settle(5)
    except StoreError:
        pytest.fail("ledger unreachable")
    rows = await (await gw.stack.database()).fetch("SELECT route, node FROM ledger")
    assert [(r["route"], r["node"]) for r in rows] == [("smart-agent", "mlx")]


async def test_the_endpoint_is_counted_on_metrics(settings: InferenceSettings) -> None:
    metrics = GatewayMetrics()
    async with running_gateway(settings, agents=[NELLIE], metrics=metrics) as gw:
        await count(gw, messages=HI)
        with pytest.raises(anthropic.NotFoundError):
            await count(gw, model="claude-9", messages=HI)
        async with aiohttp.ClientSession() as session, session.get(
                f"{gw.url}/metrics") as response:
            text = await response.text()
    assert sample(text, "homecrew_http_requests_total", endpoint=COUNT, method="POST",
                  status="200") == 1
    assert sample(text, "homecrew_http_requests_total", endpoint=COUNT, method="POST",
                  status="404") == 1
    assert sample(text, "homecrew_http_request_duration_seconds_count", endpoint=COUNT,
                  method="POST") == 2
