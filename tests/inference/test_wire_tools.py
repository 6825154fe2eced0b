"""Tool calls in the wire protocols, as pure functions: the tools and the tool history in
request bodies, streamed fragments assembled into complete calls, malformed arguments.

The same over real HTTP, against the stand-ins, is in ``test_native_tools.py``.
"""

from __future__ import annotations

import json
from typing import Any

from inference.types import BadArguments, ChatRequest, Message, ModelToolCall, ToolFunction
from inference.wire.ollama_chat import OllamaChat
from inference.wire.openai_chat import OpenAIChat
from tests.inference.test_wire import sse, step_of

CLOCK = ToolFunction("time__now", "The current time", {
    "type": "object", "properties": {"timezone": {"type": "string"}}})
HISTORY = [
    Message("user", "what time is it in Oslo?"),
    Message("assistant", "", tool_calls=(
        ModelToolCall("call_1", "time__now", '{"timezone": "Europe/Oslo"}'),)),
    Message("tool", "12:00", tool_call_id="call_1", name="time__now"),
]


def tool_request(**kw: Any) -> ChatRequest:
    return ChatRequest(route="r", messages=HISTORY, tools=(CLOCK,), **kw)


def test_openai_body_carries_tools_choice_and_tool_history() -> None:
    body = OpenAIChat().body(step_of("openai"), tool_request(tool_choice="auto"))
    assert body["tools"] == [{"type": "function", "function": {
        "name": "time__now", "description": "The current time",
        "parameters": CLOCK.parameters}}]
    assert body["tool_choice"] == "auto"
    assert body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "time__now", "arguments": '{"timezone": "Europe/Oslo"}'}}]}
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "12:00"}


def test_ollama_body_carries_tools_and_history_with_object_arguments() -> None:
    body = OllamaChat().body(step_of("ollama"), tool_request())
    assert body["tools"][0]["function"]["name"] == "time__now"
    assert body["messages"][1]["tool_calls"] == [
        {"function": {"name": "time__now", "arguments": {"timezone": "Europe/Oslo"}}}]
    assert body["messages"][2] == {"role": "tool", "content": "12:00", "tool_name": "time__now"}


def test_ollama_body_sends_malformed_history_arguments_as_an_empty_object() -> None:
    history = [Message("assistant", "", tool_calls=(ModelToolCall("c", "f", "{oops"),))]
    body = OllamaChat().body(step_of("ollama"), ChatRequest(route="r", messages=history))
    assert body["messages"][0]["tool_calls"][0]["function"]["arguments"] == {}


def fragment(index: int, *, id: str | None = None, name: str | None = None,
             arguments: str | None = None, finish: str | None = None) -> bytes:
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    call: dict[str, Any] = {"index": index, "function": function}
    if id is not None:
        call.update(id=id, type="function")
    return sse({"object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"tool_calls": [call]},
                             "finish_reason": finish}]})


def test_sse_assembles_interleaved_tool_call_fragments_by_index() -> None:
    reader = OpenAIChat().reader(tool_request())
    lines = [
        fragment(0, id="call_a", name="time__now", arguments=""),
        fragment(1, id="call_b", name="time__now", arguments='{"timez'),
        fragment(0, arguments='{"timezone": '),
        fragment(1, arguments='one": "UTC"}'),
        fragment(0, arguments='"Europe/Oslo"}', finish="tool_calls"),
        b"data: [DONE]",
    ]
    assert all(reader.feed(line) is None for line in lines)
    assert reader.finished
    assert reader.tool_calls() == (
        ModelToolCall("call_a", "time__now", '{"timezone": "Europe/Oslo"}'),
        ModelToolCall("call_b", "time__now", '{"timezone": "UTC"}'),
    )
    assert reader.usage().finish_reason == "tool_calls"


def test_sse_tool_calls_from_a_server_that_says_stop_still_finish_as_tool_calls() -> None:
    reader = OpenAIChat().reader(tool_request())
    reader.feed(fragment(0, id="c", name="time__now", arguments="{}", finish="stop"))
    reader.feed(b"data: [DONE]")
    assert reader.usage().finish_reason == "tool_calls"


def test_a_non_streamed_openai_answer_is_read_with_its_tool_calls() -> None:
    reader = OpenAIChat().reader(tool_request())
    document = {"object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "call_9", "type": "function",
                     "function": {"name": "time__now", "arguments": "{}"}}]}}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 5}}
    chunk = reader.document(json.dumps(document, indent=2).encode())
    assert chunk is not None and chunk.text == "Checking."
    assert reader.finished
    assert reader.tool_calls() == (ModelToolCall("call_9", "time__now", "{}"),)
    usage = reader.usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.finish_reason) == (
        20, 5, "tool_calls")


def test_ndjson_tool_calls_get_ids_and_json_text_arguments() -> None:
    reader = OllamaChat().reader(tool_request())
    line = {"message": {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "time__now", "arguments": {"timezone": "Europe/Oslo"}}},
        {"function": {"name": "time__now", "arguments": {}}}]}, "done": False}
    done = {"message": {"role": "assistant", "content": ""}, "done": True,
            "done_reason": "stop", "prompt_eval_count": 30, "eval_count": 9}
    reader.feed(json.dumps(line).encode())
    reader.feed(json.dumps(done).encode())
    first, second = reader.tool_calls()
    assert first.id and second.id and first.id != second.id
    assert first.decoded() == {"timezone": "Europe/Oslo"}
    assert second.decoded() == {}
    assert reader.usage().finish_reason == "tool_calls"


def test_malformed_arguments_are_a_value_that_says_why() -> None:
    bad = ModelToolCall("c", "time__now", '{"timezone": "Europe/Os')
    problem = bad.decoded()
    assert isinstance(problem, BadArguments)
    assert "not valid JSON" in problem.reason
    listed = ModelToolCall("c", "time__now", "[1, 2]").decoded()
    assert isinstance(listed, BadArguments) and "not an object" in listed.reason
    assert ModelToolCall("c", "time__now", "").decoded() == {}
