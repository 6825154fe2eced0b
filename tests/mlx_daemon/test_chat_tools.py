"""Tool calls through the daemon's real HTTP API, on tiny models that always call tools.

"tiny-tools" has a Qwen2.5 tool template and always replies WEATHER_SCRIPT: some text,
then two ``<tool_call>`` JSON calls; "tiny-badtools" replies with a call whose JSON is
cut short. Generation, templating, parsing and response building are all the real thing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from tests.mlx_daemon.support import (
    BROKEN_SCRIPT,
    WEATHER_SCRIPT,
    collect_stream,
    daemon_settings,
    running,
)

WEATHER_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "Local time in a time zone",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}},
]  # fmt: skip
ASK = [{"role": "user", "content": "What is the weather and the time in Paris?"}]
EXPECTED_CALLS = [
    ("get_weather", {"city": "Paris", "unit": "celsius"}),
    ("get_time", {"zone": "Europe/Paris"}),
]


def _body(model: str = "tiny-tools", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": ASK, "tools": WEATHER_TOOLS,
                            "max_tokens": 32, "temperature": 0}  # fmt: skip
    body.update(extra)
    return body


async def _complete(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await client.post("/v1/chat/completions", json=_body(**extra))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _stream(client: httpx.AsyncClient, **extra: Any) -> list[dict[str, Any]]:
    async with client.stream("POST", "/v1/chat/completions",
                             json=_body(stream=True, **extra)) as response:  # fmt: skip
        assert response.status_code == 200
        events = await collect_stream(response)
    assert events[-1] == "[DONE]"
    return events[:-1]


def _calls(tool_calls: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in tool_calls]


def _assemble(chunks: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]], str | None]:
    """Content, tool calls and finish reason of a stream, assembled as a client does."""
    content, finish = "", None
    calls: list[dict[str, Any]] = []
    for c in chunks:
        (choice,) = c["choices"]
        delta = choice["delta"]
        content += delta.get("content") or ""
        for part in delta.get("tool_calls", []):
            if part["index"] == len(calls):
                assert set(part) == {"index", "id", "type", "function"}, part
                calls.append({"id": part["id"], "type": part["type"],
                              "function": dict(part["function"])})  # fmt: skip
            else:
                assert set(part) == {"index", "function"}, part
                calls[part["index"]]["function"]["arguments"] += part["function"]["arguments"]
        finish = choice["finish_reason"] or finish
    return content, calls, finish


async def test_whole_reply_carries_the_calls(tool_models: dict[str, Path], tmp_path: Path) -> None:
    async with running(daemon_settings(tool_models, tmp_path)) as (_, client):
        body = await _complete(client)
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me check the weather."
    assert _calls(message["tool_calls"]) == EXPECTED_CALLS
    ids = [call["id"] for call in message["tool_calls"]]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 2
    assert {call["type"] for call in message["tool_calls"]} == {"function"}
    assert body["usage"]["completion_tokens"] == len(WEATHER_SCRIPT) + 1  # and <|im_end|>


async def test_stream_sends_text_then_call_deltas(
    tool_models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(tool_models, tmp_path)) as (_, client):
        chunks = await _stream(client)
        whole = await _complete(client)
    content, calls, finish = _assemble(chunks)
    assert content == whole["choices"][0]["message"]["content"] == "Let me check the weather."
    assert not any("<tool_call>" in (c["choices"][0]["delta"].get("content") or "")
                   for c in chunks)  # fmt: skip
    assert _calls(calls) == EXPECTED_CALLS
    assert all(call["id"].startswith("call_") and call["type"] == "function" for call in calls)
    assert finish == "tool_calls"
    finals = [c for c in chunks if c["choices"][0]["finish_reason"] is not None]
    assert finals == [chunks[-1]] and chunks[-1]["choices"][0]["delta"] == {}
    first_call = next(i for i, c in enumerate(chunks) if "tool_calls" in c["choices"][0]["delta"])
    assert all("tool_calls" not in c["choices"][0]["delta"] for c in chunks[:first_call])
    assert all("content" not in c["choices"][0]["delta"] for c in chunks[first_call:])


async def test_malformed_call_comes_back_as_content(
    tool_models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(tool_models, tmp_path)) as (_, client):
        whole = await _complete(client, model="tiny-badtools")
        chunks = await _stream(client, model="tiny-badtools")
    (choice,) = whole["choices"]
    assert choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    assert choice["message"]["content"] == "".join(BROKEN_SCRIPT)
    content, calls, finish = _assemble(chunks)
    assert (content, calls, finish) == ("".join(BROKEN_SCRIPT), [], "stop")


async def test_tool_choice_none_shows_no_tools_and_parses_nothing(
    tool_models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(tool_models, tmp_path)) as (_, client):
        offered = await _complete(client)
        refused = await _complete(client, tool_choice="none")
    message = refused["choices"][0]["message"]
    assert message["content"] == "".join(WEATHER_SCRIPT)
    assert "tool_calls" not in message
    assert refused["choices"][0]["finish_reason"] == "stop"
    assert refused["usage"]["prompt_tokens"] < offered["usage"]["prompt_tokens"]


@pytest.mark.parametrize(
    "choice", ["required", {"type": "function", "function": {"name": "get_time"}}]
)
async def test_forced_tool_choice_starts_the_reply_in_a_call(
    tool_models: dict[str, Path], tmp_path: Path, choice: object
) -> None:
    async with running(daemon_settings(tool_models, tmp_path)) as (_, client):
        auto = await _complete(client)
        forced = await _complete(client, tool_choice=choice)
        single = await _complete(client, tool_choice=choice, parallel_tool_calls=False)
        chunks = await _stream(client, tool_choice=choice)
    message = forced["choices"][0]["message"]
    assert message["content"] is None  # the reply began inside the first call
    assert _calls(message["tool_calls"]) == EXPECTED_CALLS
    assert forced["choices"][0]["finish_reason"] == "tool_calls"
    assert _calls(single["choices"][0]["message"]["tool_calls"]) == EXPECTED_CALLS[:1]
    content, calls, finish = _assemble(chunks)
    assert (content, _calls(calls), finish) == ("", EXPECTED_CALLS, "tool_calls")
    if isinstance(choice, dict):  # only the named tool is shown to the model
        assert forced["usage"]["prompt_tokens"] < auto["usage"]["prompt_tokens"]


async def test_tool_history_is_accepted_with_string_or_object_arguments(
    tool_models: dict[str, Path], tmp_path: Path
) -> None:
    def history(arguments: object) -> list[dict[str, Any]]:
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": arguments}}  # fmt: skip
        result = {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'}
        return [*ASK, {"role": "assistant", "content": None, "tool_calls": [call]}, result]

    async with running(daemon_settings(tool_models, tmp_path)) as (_, client):
        first = await _complete(client)
        as_text = await _complete(client, messages=history('{"city": "Paris"}'))
        as_object = await _complete(client, messages=history({"city": "Paris"}))
    # OpenAI's JSON-string arguments reach the template as the object it renders.
    assert as_text["usage"]["prompt_tokens"] == as_object["usage"]["prompt_tokens"]
    assert as_text["usage"]["prompt_tokens"] > first["usage"]["prompt_tokens"]
    assert _calls(as_text["choices"][0]["message"]["tool_calls"]) == EXPECTED_CALLS


@pytest.mark.parametrize(
    ("extra", "param", "fragment"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "launch"}}},
         "tool_choice", "launch"),
        ({"tools": None, "tool_choice": "required"}, "tool_choice", "only allowed"),
        ({"tools": [{"type": "function", "function": {"description": "no name"}}]},
         "tools.0.function.name", "name"),
        ({"tools": [{"type": "retrieval"}]}, "tools.0.type", "function"),
        ({"tool_choice": "sometimes"}, "tool_choice", "tool_choice"),
        ({"model": "tiny-a"}, "tools", "cannot call tools"),
    ],
)  # fmt: skip
async def test_bad_tool_requests_are_400(
    tool_models: dict[str, Path], models: dict[str, Path], tmp_path: Path,
    extra: dict[str, Any], param: str, fragment: str,
) -> None:  # fmt: skip
    async with running(daemon_settings({**tool_models, **models}, tmp_path)) as (_, client):
        response = await client.post("/v1/chat/completions", json=_body(**extra))
        healthy = await _complete(client)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert fragment in error["message"]
    assert healthy["choices"][0]["finish_reason"] == "tool_calls"


async def test_openai_sdk_reads_the_calls(tool_models: dict[str, Path], tmp_path: Path) -> None:
    messages = cast(list[ChatCompletionMessageParam], ASK)
    tools = cast(list[ChatCompletionFunctionToolParam], WEATHER_TOOLS)
    async with running(daemon_settings(tool_models, tmp_path)) as (server, _):
        sdk = AsyncOpenAI(base_url=f"{server.root_url}/v1", api_key="unused", max_retries=0)
        whole = await sdk.chat.completions.create(
            model="tiny-tools", messages=messages, tools=tools, max_tokens=32
        )
        async with sdk.chat.completions.stream(
            model="tiny-tools", messages=messages, tools=tools, max_tokens=32
        ) as stream:
            async for _ in stream:
                pass
            streamed = await stream.get_final_completion()
        await sdk.close()
    for completion in (whole, streamed):
        (choice,) = completion.choices
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == "Let me check the weather."
        calls = choice.message.tool_calls or []
        got = [(c.function.name, json.loads(c.function.arguments)) for c in calls]  # type: ignore[union-attr]
        assert got == EXPECTED_CALLS
        assert all(c.id.startswith("call_") and c.type == "function" for c in calls)


async def test_call_cut_off_by_max_tokens_is_content(
    tool_models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(tool_models, tmp_path)) as (_, client):
        whole = await _complete(client, max_tokens=4)
        chunks = await _stream(client, max_tokens=4)
    cut = "".join(WEATHER_SCRIPT[:4])  # text, <tool_call>, half of the JSON
    (choice,) = whole["choices"]
    assert (choice["message"]["content"], choice["finish_reason"]) == (cut, "length")
    assert "tool_calls" not in choice["message"]
    assert _assemble(chunks) == (cut, [], "length")


async def test_tool_choice_none_works_on_a_model_without_tool_support(
    models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(models, tmp_path)) as (_, client):
        body = _body("tiny-a", tool_choice="none", max_tokens=4)
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
