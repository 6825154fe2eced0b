"""Messages API request bodies parsed into the chain's terms, and every bad or unsupported
field named in the 400. Bodies are the ones the official ``anthropic`` SDK sends (captured
from its client over an in-memory transport) or written as Anthropic's reference shows.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest

from gateway.anthropic_api import AnthropicDialect
from gateway.anthropic_request import TOOL_ERROR_PREFIX
from gateway.dialect import ParsedCall
from gateway.errors import BadRequest, Unsupported
from inference.types import Message, ModelToolCall, ToolFunction

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}},
                  "required": ["city"]}
WEATHER_TOOL = {"name": "get_weather", "description": "Weather of a city",
                "input_schema": WEATHER_SCHEMA}


DROP = object()  # a field left out of the body


def parse(**fields: Any) -> ParsedCall:
    body = {"model": "smart-agent", "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}]} | fields
    return AnthropicDialect().parse({k: v for k, v in body.items() if v is not DROP})


def refused(**fields: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse(**fields)
    return caught.value


def sent_by_sdk(**params: Any) -> dict[str, Any]:
    """The JSON body the official client sends for ``messages.create(**params)``."""
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(400, json={"type": "error", "error": {
            "type": "invalid_request_error", "message": "captured"}})
    sdk = anthropic.Anthropic(api_key="hc-test", base_url="http://gateway.test",
                              max_retries=0,
                              http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    with pytest.raises(anthropic.BadRequestError):
        sdk.messages.create(**params)
    return bodies[0]


def test_a_minimal_call() -> None:
    call = parse()
    assert call.model == "smart-agent"
    assert call.messages == (Message("user", "hi"),)
    assert (call.max_tokens, call.stream, call.system, call.tools, call.tool_choice) == (
        64, False, None, (), None)


def test_sampling_parameters_and_stop_sequences_carry_over() -> None:
    call = parse(temperature=0.2, top_p=0.9, stop_sequences=["\n\nHuman:", "END"],
                 stream=True, metadata={"user_id": "u-1"}, service_tier="auto")
    assert (call.temperature, call.top_p, call.stop, call.stream) == (
        0.2, 0.9, ("\n\nHuman:", "END"), True)


def test_system_as_a_string_or_text_blocks() -> None:
    assert parse(system="Be brief.").system == "Be brief."
    blocks = [{"type": "text", "text": "Be brief."},
              {"type": "text", "text": "Cite.", "cache_control": {"type": "ephemeral"}}]
    assert parse(system=blocks).system == "Be brief.\nCite."
    assert parse(system="").system is None


def test_the_sdk_s_own_tool_conversation_parses_into_the_chain_s_messages() -> None:
    body = sent_by_sdk(
        model="smart-agent", max_tokens=200, system="You help.",
        tools=[WEATHER_TOOL], tool_choice={"type": "auto"},
        messages=[
            {"role": "user", "content": "Weather in Oslo and Bergen?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Oslo"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather",
                 "input": {"city": "Bergen"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "5 °C, rain"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                 "content": [{"type": "text", "text": "station"}, {"type": "text",
                                                                   "text": "offline"}]},
                {"type": "text", "text": "And tomorrow?"}]},
        ])
    call = AnthropicDialect().parse(body)
    assert call.system == "You help."
    assert call.tools == (ToolFunction("get_weather", "Weather of a city", WEATHER_SCHEMA),)
    assert call.tool_choice == "auto"
    assert call.messages == (
        Message("user", "Weather in Oslo and Bergen?"),
        Message("assistant", "Checking both.", tool_calls=(
            ModelToolCall("toolu_1", "get_weather", '{"city": "Oslo"}'),
            ModelToolCall("toolu_2", "get_weather", '{"city": "Bergen"}'))),
        Message("tool", "5 °C, rain", tool_call_id="toolu_1", name="get_weather"),
        Message("tool", TOOL_ERROR_PREFIX + "station\noffline", tool_call_id="toolu_2",
                name="get_weather"),
        Message("user", "And tomorrow?"),
    )


def test_a_turn_of_only_tool_results_adds_no_empty_user_message() -> None:
    call = parse(tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "Oslo?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1",
                                           "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}])
    assert [m.role for m in call.messages] == ["user", "assistant", "tool"]
    assert call.messages[1].content == "" and call.messages[2].content == ""


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none"),
    ({"type": "auto", "disable_parallel_tool_use": False}, "auto")])
def test_tool_choice(choice: dict[str, Any], expected: str) -> None:
    assert parse(tools=[WEATHER_TOOL], tool_choice=choice).tool_choice == expected


def test_tool_choice_of_one_named_tool_offers_only_that_tool_required() -> None:
    clock = {"name": "get_time", "input_schema": {"type": "object"}}
    call = parse(tools=[WEATHER_TOOL, clock], tool_choice={"type": "tool", "name": "get_time"})
    assert call.tools == (ToolFunction("get_time", "", {"type": "object"}),)
    assert call.tool_choice == "required"


# --- what is refused, and the field it names ----------------------------------------------


@pytest.mark.parametrize(("fields", "param"), [
    ({"max_tokens": DROP}, "max_tokens"),
    ({"max_tokens": "64"}, "max_tokens"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"model": ""}, "model"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "user"}]}, "messages.0.content"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                {"type": "text"}]}]},
     "messages.0.content.1.text"),
    ({"messages": [{"role": "user", "content": [{"text": "a"}]}]}, "messages.0.content.0.type"),
    ({"temperature": 1.5}, "temperature"),
    ({"top_p": -0.1}, "top_p"),
    ({"stop_sequences": "END"}, "stop_sequences"),
    ({"stream": "yes"}, "stream"),
    ({"system": [{"type": "text"}]}, "system.0.text"),
    ({"tools": [{"name": "get_weather"}]}, "tools.0.input_schema"),
    ({"tools": [{"name": "has space", "input_schema": {"type": "object"}}]}, "tools.0.name"),
    ({"tools": [{"name": "t", "input_schema": {"type": "array"}}]}, "tools.0.input_schema.type"),
    ({"tool_choice": {"type": "any"}}, "tool_choice"),
    ({"tool_choice": {"type": "maybe"}, "tools": [WEATHER_TOOL]}, "tool_choice.type"),
    ({"tool_choice": {"type": "tool", "name": "nope"}, "tools": [WEATHER_TOOL]},
     "tool_choice.name"),
])
def test_a_bad_field_is_a_400_naming_its_path(fields: dict[str, Any], param: str) -> None:
    error = refused(**fields)
    assert error.status == 400 and error.anthropic_type == "invalid_request_error"
    assert error.param == param
    assert error.message.startswith(param)


def test_the_body_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="JSON object"):
        AnthropicDialect().parse([{"model": "m"}])


@pytest.mark.parametrize(("fields", "param"), [
    ({"top_k": 40}, "top_k"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "thinking"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"mcp_servers": [{"type": "url", "url": "http://x", "name": "x"}]}, "mcp_servers"),
    ({"output_config": {"effort": "low"}}, "output_config"),
    ({"frobnicate": True}, "frobnicate"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBO"}}]}]}, "messages.0.content.0.type"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "a", "x": 1}]}]},
     "messages.0.content.0.x"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type"),
    ({"tools": [WEATHER_TOOL | {"strict": True}]}, "tools.0.strict"),
    ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "auto",
                                               "disable_parallel_tool_use": True}},
     "tool_choice.disable_parallel_tool_use"),
])
def test_what_homecrew_cannot_honour_is_named_not_dropped(fields: dict[str, Any],
                                                         param: str) -> None:
    error = refused(**fields)
    assert isinstance(error, Unsupported)
    assert error.param == param and error.message.startswith(param)


def test_thinking_disabled_is_accepted() -> None:
    assert parse(thinking={"type": "disabled"}).model == "smart-agent"


def test_a_tool_result_inside_a_tool_result_s_content_is_unsupported() -> None:
    error = refused(tools=[WEATHER_TOOL], messages=[
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "image", "source": {}}]}]}])
    assert error.param == "messages.1.content.0.content.0.type"


def test_blocks_in_the_wrong_role_are_refused() -> None:
    use = {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}
    assert refused(messages=[{"role": "user", "content": [use]}]).param == \
        "messages.0.content.0.type"
    result = {"type": "tool_result", "tool_use_id": "t1", "content": "x"}
    assert refused(messages=[{"role": "assistant", "content": [result]}]).param == \
        "messages.0.content.0.type"


def test_a_tool_result_must_answer_an_earlier_tool_use() -> None:
    error = refused(messages=[{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_x", "content": "5"}]}])
    assert error.param == "messages.0.content.0.tool_use_id"
    assert "toolu_x" in error.message
