"""The native client's wire protocols as pure functions: request bodies, line readers, errors.

The same protocols over real HTTP, against the stand-ins, are in ``test_native.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pytest

from inference.config import ModelConfig, NodeConfig, StepTimeouts
from inference.step import Chunk, Step, Usage
from inference.types import ChatRequest, Message, ToolFunction
from inference.wire import MAX_LINE, LineReader, LineSplitter, WireError, error_text, usage_of
from inference.wire.ollama_chat import OllamaChat
from inference.wire.openai_chat import OpenAIChat

UPTIME = ToolFunction("uptime", "How long the host has been up")
TOOL = {"type": "function", "function": {"name": "uptime",
                                         "description": "How long the host has been up",
                                         "parameters": {"type": "object"}}}
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def step_of(kind: str, model: str = "qwen2.5:14b") -> Step:
    node = NodeConfig.model_validate({"kind": kind, "base_url": "http://127.0.0.1:1"})
    return Step(route="r", depth=0, alias="a", node_name="n", node=node,
                model=ModelConfig(node="n", model=model),
                timeouts=StepTimeouts(connect=1, first_token=2, total=5))


def request(text: str = "hello there", **kw: Any) -> ChatRequest:
    messages = [Message("system", "be brief"), Message("user", text)]
    return ChatRequest(route="r", messages=messages, **kw)


def read(reader: LineReader, lines: Sequence[bytes]) -> tuple[str, Usage]:
    text = []
    for line in lines:
        chunk = reader.feed(line)
        if chunk is not None:
            assert isinstance(chunk, Chunk)
            text.append(chunk.text)
    assert reader.finished
    return "".join(text), reader.usage()


# -- request bodies ------------------------------------------------------------------------

FULL: dict[str, Any] = dict(temperature=0.2, max_tokens=64, top_p=0.9, seed=7, stop=("\n\n", "END"),
            response_format={"type": "json_object"}, tools=(UPTIME,))


def test_openai_body_maps_every_parameter() -> None:
    body = OpenAIChat().body(step_of("openai", "mlx-q"), request(**FULL))
    assert body == {
        "model": "mlx-q",
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": "hello there"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2, "max_tokens": 64, "top_p": 0.9, "seed": 7, "stop": ["\n\n", "END"],
        "response_format": {"type": "json_object"},
        "tools": [TOOL],
    }
    assert OpenAIChat().path() == "/chat/completions"


def test_openai_body_leaves_unset_parameters_out() -> None:
    body = OpenAIChat().body(step_of("openai"), request(temperature=0.0))
    assert set(body) == {"model", "messages", "stream", "stream_options", "temperature"}
    assert body["temperature"] == 0.0  # zero is a value, not "unset"


def test_ollama_body_puts_sampling_under_options() -> None:
    body = OllamaChat().body(step_of("ollama"), request(**FULL))
    assert body == {
        "model": "qwen2.5:14b",
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": "hello there"}],
        "stream": True,
        "options": {"temperature": 0.2, "num_predict": 64, "top_p": 0.9, "seed": 7,
                    "stop": ["\n\n", "END"]},
        "format": "json",
        "tools": [TOOL],
    }
    assert OllamaChat().path() == "/api/chat"


def test_ollama_body_without_parameters_has_no_options() -> None:
    body = OllamaChat().body(step_of("ollama"), request())
    assert set(body) == {"model", "messages", "stream"}
    assert OllamaChat().body(step_of("ollama"), request(seed=0))["options"] == {"seed": 0}


@pytest.mark.parametrize(("response_format", "expected"), [
    ({"type": "json_object"}, "json"),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}, SCHEMA),
    ({"type": "json_schema", "json_schema": {"name": "x"}}, "json"),
    ({"type": "text"}, None),
])
def test_ollama_format(response_format: dict[str, Any], expected: object) -> None:
    body = OllamaChat().body(step_of("ollama"), request(response_format=response_format))
    assert body.get("format") == expected


# -- OpenAI server-sent events -------------------------------------------------------------

def sse(body: object) -> bytes:
    return f"data: {json.dumps(body)}\n".encode()


def delta(text: str | None, finish: str | None = None, role: bool = False) -> bytes:
    part: dict[str, Any] = {"role": "assistant"} if role else {}
    if text is not None:
        part["content"] = text
    return sse({"object": "chat.completion.chunk", "usage": None,
                "choices": [{"index": 0, "delta": part, "finish_reason": finish}]})


def test_sse_reads_text_usage_and_finish_reason_through_quirks() -> None:
    lines = [
        b": keepalive 1/2\n", b"\n", b": keepalive 2/2\n", b"event: message\n", b"id: 1\n",
        delta(None, role=True), b"\n",
        delta("Hel", role=True), b"\r\n", delta("lo", role=True), delta("", role=True),
        delta(None, "length", role=True),
        sse({"object": "chat.completion", "choices": [],
             "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}),
        b"data: [DONE]\n",
    ]
    text, usage = read(OpenAIChat().reader(request()), lines)
    assert text == "Hello"
    assert usage == Usage(prompt_tokens=9, completion_tokens=2, finish_reason="length")


def test_sse_without_usage_estimates_it() -> None:
    reader = OpenAIChat().reader(request("x" * 40))  # + "be brief": 48 characters
    text, usage = read(reader, [delta("y" * 20), delta(None, "stop"), b"data:[DONE]\n"])
    assert text == "y" * 20
    assert usage == Usage(prompt_tokens=12, completion_tokens=5, finish_reason="stop",
                          estimated=True)


def test_sse_is_not_finished_before_done_marker() -> None:
    reader = OpenAIChat().reader(request())
    reader.feed(delta("hi", "stop"))
    assert not reader.finished


@pytest.mark.parametrize(("line", "message"), [
    (sse({"error": {"message": "engine crashed", "type": "server_error"}}), "engine crashed"),
    (sse({"error": "out of memory"}), "out of memory"),
    (b"data: null\n", "expected a JSON object"),
    (b"data: [1, 2]\n", "expected a JSON object"),
])
def test_sse_error_lines_raise_wire_error(line: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        OpenAIChat().reader(request()).feed(line)


def test_sse_invalid_json_raises_wire_error() -> None:
    with pytest.raises(WireError, match="not JSON"):
        OpenAIChat().reader(request()).feed(b"data: {not json\n")


@pytest.mark.parametrize(("event", "where"), [
    ({"choices": 5}, "choices"),
    ({"choices": [5]}, "choices.0"),
    ({"choices": [{"delta": ["a", "b"]}]}, "choices.0.delta"),
    ({"choices": [{"delta": "text"}]}, "choices.0.delta"),
    ({"choices": [{"delta": {"content": 5}}]}, "choices.0.delta.content"),
    ({"choices": [{"delta": {"content": ["x"]}}]}, "choices.0.delta.content"),
    ({"choices": [{"delta": {}, "finish_reason": {"x": 1}}]}, "choices.0.finish_reason"),
    ({"choices": [], "usage": 7}, "usage"),
    ({"choices": [], "usage": {"prompt_tokens": "many"}}, "usage.prompt_tokens"),
])
def test_sse_events_of_the_wrong_shape_raise_wire_error(event: dict[str, Any], where: str
                                                         ) -> None:
    with pytest.raises(WireError, match=rf"malformed event: {re.escape(where)}: "):
        OpenAIChat().reader(request()).feed(sse(event))


# -- Ollama NDJSON -------------------------------------------------------------------------

def ndjson(text: str, **extra: Any) -> bytes:
    body = {"model": "qwen2.5:14b", "message": {"role": "assistant", "content": text},
            "done": False, **extra}
    return json.dumps(body).encode() + b"\n"


def test_ndjson_reads_text_counts_and_done_reason() -> None:
    last = ndjson("", done=True, done_reason="length", prompt_eval_count=14, eval_count=3)
    text, usage = read(OllamaChat().reader(request()), [
        ndjson("Hel"), b"\n", ndjson("lo"), ndjson(""), last,
    ])
    assert text == "Hello"
    assert usage == Usage(prompt_tokens=14, completion_tokens=3, finish_reason="length")


def test_ndjson_without_counts_estimates_them() -> None:
    text, usage = read(OllamaChat().reader(request("x" * 40)),
                       [ndjson("y" * 8), ndjson("", done=True, done_reason="stop")])
    assert text == "y" * 8
    assert usage == Usage(prompt_tokens=12, completion_tokens=2, finish_reason="stop",
                          estimated=True)


def test_ndjson_text_on_the_done_line_counts() -> None:
    text, _ = read(OllamaChat().reader(request()), [ndjson("all at once", done=True)])
    assert text == "all at once"


@pytest.mark.parametrize(("line", "message"), [
    (b'{"error": "model runner has unexpectedly stopped"}\n', "unexpectedly stopped"),
    (b'"just a string"\n', "expected a JSON object"),
])
def test_ndjson_error_lines_raise_wire_error(line: bytes, message: str) -> None:
    reader = OllamaChat().reader(request())
    with pytest.raises(WireError, match=message):
        reader.feed(line)
    assert not reader.finished


@pytest.mark.parametrize(("line", "where"), [
    (b'{"message": "x"}\n', "message"),
    (b'{"message": ["x"]}\n', "message"),
    (b'{"message": {"content": 5}}\n', "message.content"),
    (b'{"message": {"content": "a"}, "done": "soon"}\n', "done"),
    (b'{"done": true, "done_reason": 3}\n', "done_reason"),
    (b'{"done": true, "eval_count": "lots"}\n', "eval_count"),
])
def test_ndjson_lines_of_the_wrong_shape_raise_wire_error(line: bytes, where: str) -> None:
    with pytest.raises(WireError, match=rf"malformed event: {re.escape(where)}: "):
        OllamaChat().reader(request()).feed(line)


@pytest.mark.parametrize("line", [b"[]\n", b"5\n", b'"text"\n', b"{nope\n"])
def test_ndjson_lines_that_are_not_objects_raise_wire_error(line: bytes) -> None:
    with pytest.raises(WireError):
        OllamaChat().reader(request()).feed(line)


# -- splitting a streamed body into lines --------------------------------------------------

@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 10_000])
def test_lines_split_however_the_body_arrives(piece: int) -> None:
    body = b"data: one\n\ndata: two\r\n" + b"x" * 300 + b"\nlast"
    splitter, lines = LineSplitter(), []
    for start in range(0, len(body), piece):
        lines += splitter.feed(body[start:start + piece])
    lines += splitter.end()
    assert lines == [b"data: one", b"", b"data: two\r", b"x" * 300, b"last"]
    assert splitter.end() == []


def test_a_line_past_the_limit_is_an_error_not_a_buffer_without_end() -> None:
    splitter = LineSplitter(limit=1000)
    assert splitter.feed(b"y" * 1000) == []
    with pytest.raises(WireError, match="a line longer than 1000 bytes"):
        splitter.feed(b"y")
    with pytest.raises(WireError, match="a line longer than 1000 bytes"):
        LineSplitter(limit=1000).feed(b"z" * 1001 + b"\n")


def test_the_line_limit_is_16_mib() -> None:
    assert MAX_LINE == 16 * 1024 * 1024


# -- shared helpers ------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"error": {"message": "Invalid request.", "type": "invalid_request_error"}}',
     "Invalid request."),
    (b'{"error": {"type": "overloaded_error"}}', "overloaded_error"),
    (b'{"error": "model \'x\' not found"}', "model 'x' not found"),
    ('{"message": "no such route"}', "no such route"),
    (b'{"detail": "Not Found"}', "Not Found"),
    (b"<html>\n<h1>502 Bad Gateway</h1>\n</html>", "<html>"),
    (b"  upstream reset\nsecond line", "upstream reset"),
    (b"", ""),
    (b"\xff\xfe broken", "\ufffd\ufffd broken"),
])
def test_error_text(raw: bytes | str, expected: str) -> None:
    assert error_text(raw) == expected


def test_error_text_is_one_short_line() -> None:
    assert len(error_text("e" * 1000)) == 300


def test_usage_of_needs_both_counts_from_the_server() -> None:
    req = request("x" * 40)
    assert usage_of(req, prompt=5, completion=None, produced_chars=8, finish=None) == Usage(
        prompt_tokens=12, completion_tokens=2, estimated=True)
    assert usage_of(req, prompt=0, completion=0, produced_chars=8, finish="stop") == Usage(
        prompt_tokens=0, completion_tokens=0, finish_reason="stop")

