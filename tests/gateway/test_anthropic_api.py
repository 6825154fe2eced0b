"""The Anthropic dialect's answers, whole and streamed, read back by the official
``anthropic`` SDK: its client (over an in-memory HTTP transport that hands it the
dialect's bytes), its SSE decoder and its message-stream accumulator.

The chain's events fed in are the real inference types (``TextDelta``, ``ModelToolCall``,
``ReplyDone``); the request side is in ``test_anthropic_request.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic._streaming import SSEDecoder

from gateway.anthropic_api import AnthropicDialect
from gateway.dialect import ParsedCall
from gateway.errors import (
    BadRequest,
    BodyTooLarge,
    Forbidden,
    GatewayError,
    ModelNotFound,
    NoStepAnswered,
    RateLimited,
    Unauthorized,
    Unsupported,
)
from inference.types import Message, ModelToolCall, ReplyDone, StreamEvent, TextDelta

DIALECT = AnthropicDialect()
CALL = ParsedCall(model="smart-agent", messages=(Message("user", "hi"),), stream=True)
ASK: dict[str, Any] = {"model": "smart-agent", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "hi"}]}
WEATHER = ModelToolCall("toolu_1", "get_weather", '{"city": "Oslo", "days": [1, 2]}')


def done(text: str = "", **kw: Any) -> ReplyDone:
    fields: dict[str, Any] = {
        "route": "smart-agent", "node": "mlx", "model": "qwen", "upstream_model": "qwen-7b",
        "prompt_tokens": 11, "completion_tokens": 7, "cost_usd": 0.0, "latency_s": 0.2,
        "ttft_s": 0.05, "fallback_depth": 0, "finish_reason": "stop", "text": text}
    return ReplyDone(**(fields | kw))


async def streamed(events: Sequence[StreamEvent | GatewayError],
                   call: ParsedCall = CALL) -> bytes:
    """The dialect's SSE bytes for the chain's ``events`` (an error is raised in turn)."""
    async def source() -> AsyncIterator[StreamEvent]:
        for event in events:
            if isinstance(event, GatewayError):
                raise event
            yield event
    return b"".join([frame async for frame in DIALECT.stream(call, source())])


def client(body: bytes | dict[str, Any], status: int = 200) -> anthropic.Anthropic:
    """The official client, answered with ``body`` (SSE bytes or a JSON body)."""
    def answer(request: httpx2.Request) -> httpx2.Response:
        if isinstance(body, bytes):
            return httpx2.Response(status, content=body,
                                  headers={"content-type": "text/event-stream"})
        return httpx2.Response(status, json=body)
    return anthropic.Anthropic(
        api_key="hc-test", base_url="http://gateway.test", max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))


def events_of(body: bytes) -> list[tuple[str | None, Any]]:
    """The SSE events as the SDK's own decoder reads them: (event name, decoded data)."""
    return [(sse.event, sse.json()) for sse in SSEDecoder().iter_bytes(iter([body]))]


# --- the whole answer -------------------------------------------------------------------


def test_a_text_answer_is_a_message_with_the_model_name_the_client_sent() -> None:
    body = DIALECT.reply(CALL, done("Hello there."))
    message = client(body).messages.create(**ASK)
    assert message.id.startswith("msg_") and len(message.id) > len("msg_")
    assert (message.type, message.role, message.model) == ("message", "assistant",
                                                           "smart-agent")
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
        ("text", "Hello there.")]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)


def test_tool_calls_come_back_as_tool_use_blocks_with_their_input_parsed() -> None:
    reply = done("Let me look.", finish_reason="tool_calls", tool_calls=(
        WEATHER, ModelToolCall("toolu_2", "get_time", "")))
    message = client(DIALECT.reply(CALL, reply)).messages.create(**ASK)
    text, weather, clock = message.content
    assert text.type == "text" and text.text == "Let me look."
    assert weather.type == "tool_use" and clock.type == "tool_use"
    assert (weather.id, weather.name, weather.input) == (
        "toolu_1", "get_weather", {"city": "Oslo", "days": [1, 2]})
    assert (clock.id, clock.name, clock.input) == ("toolu_2", "get_time", {})
    assert message.stop_reason == "tool_use"


def test_a_reply_of_only_tool_calls_has_no_empty_text_block() -> None:
    body = DIALECT.reply(CALL, done(finish_reason="tool_calls", tool_calls=(WEATHER,)))
    assert [block["type"] for block in body["content"]] == ["tool_use"]


def test_arguments_that_are_not_a_json_object_give_an_empty_input() -> None:
    broken = ModelToolCall("toolu_9", "get_weather", '{"city": "Os')
    listed = ModelToolCall("toolu_8", "get_weather", "[1, 2]")
    body = DIALECT.reply(CALL, done(tool_calls=(broken, listed)))
    assert [block["input"] for block in body["content"]] == [{}, {}]


@pytest.mark.parametrize(("finish", "calls", "expected"), [
    ("stop", (), "end_turn"),
    (None, (), "end_turn"),
    ("length", (), "max_tokens"),
    ("content_filter", (), "refusal"),
    ("tool_calls", (WEATHER,), "tool_use"),
    ("stop", (WEATHER,), "tool_use"),  # some servers say "stop" after calling tools
])
def test_stop_reason_in_anthropic_words(finish: str | None, calls: tuple[ModelToolCall, ...],
                                        expected: str) -> None:
    body = DIALECT.reply(CALL, done("x", finish_reason=finish, tool_calls=calls))
    assert body["stop_reason"] == expected


def test_an_empty_answer_is_one_empty_text_block() -> None:
    message = client(DIALECT.reply(CALL, done(""))).messages.create(**ASK)
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "")]


# --- streamed ---------------------------------------------------------------------------


async def test_streamed_text_reads_back_through_the_sdk_stream_helper() -> None:
    body = await streamed([TextDelta("Hel"), TextDelta("lo "), TextDelta("wörld \"1\"\n"),
                           done("Hello wörld \"1\"\n")])
    with client(body).messages.stream(**ASK) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["Hel", "lo ", "wörld \"1\"\n"]
    assert final.model == "smart-agent" and final.id.startswith("msg_")
    assert [(b.type, getattr(b, "text", None)) for b in final.content] == [
        ("text", "Hello wörld \"1\"\n")]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 7)


async def test_the_stream_has_anthropic_event_order() -> None:
    body = await streamed([TextDelta("a"), TextDelta("b"), done("ab")])
    names = [name for name, _ in events_of(body)]
    assert names == ["message_start", "ping", "content_block_start", "content_block_delta",
                     "content_block_delta", "content_block_stop", "message_delta",
                     "message_stop"]
    for name, data in events_of(body):
        assert data["type"] == name  # each event's data says its own type


async def test_streamed_tool_calls_follow_the_text_as_tool_use_blocks() -> None:
    calls = (WEATHER, ModelToolCall("toolu_2", "get_time", "{}"))
    body = await streamed([TextDelta("Checking."), *calls,
                           done("Checking.", finish_reason="tool_calls", tool_calls=calls)])
    starts = [(d["index"], d["content_block"]["type"])
              for name, d in events_of(body) if name == "content_block_start"]
    stops = [d["index"] for name, d in events_of(body) if name == "content_block_stop"]
    assert starts == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    assert stops == [0, 1, 2]
    deltas = [d["delta"]["type"] for name, d in events_of(body) if name == "content_block_delta"]
    assert deltas == ["text_delta", "input_json_delta", "input_json_delta"]
    with client(body).messages.stream(**ASK) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    text, weather, clock = final.content
    assert text.type == "text" and text.text == "Checking."
    assert weather.type == "tool_use" and clock.type == "tool_use"
    assert (weather.id, weather.name, weather.input) == (
        "toolu_1", "get_weather", {"city": "Oslo", "days": [1, 2]})
    assert (clock.name, clock.input) == ("get_time", {})


async def test_a_stream_of_only_a_tool_call_starts_its_block_at_index_zero() -> None:
    body = await streamed([WEATHER, done(finish_reason="tool_calls", tool_calls=(WEATHER,))])
    with client(body).messages.stream(**ASK) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["tool_use"]
    assert [d["index"] for name, d in events_of(body) if name == "content_block_start"] == [0]


async def test_an_empty_streamed_answer_is_one_empty_text_block() -> None:
    body = await streamed([done("")])
    with client(body).messages.stream(**ASK) as stream:
        final = stream.get_final_message()
    assert [(b.type, getattr(b, "text", None)) for b in final.content] == [("text", "")]


async def test_an_error_after_the_first_token_ends_the_stream_with_an_error_event() -> None:
    failure = NoStepAnswered("every step failed: mlx (down), ollama (timeout)")
    body = await streamed([TextDelta("Part"), failure])
    assert events_of(body)[-1] == ("error", {"type": "error", "error": {
        "type": "overloaded_error",
        "message": "every step failed: mlx (down), ollama (timeout)"}})
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught, \
            client(body).messages.stream(**ASK) as stream:
        seen.extend(stream.text_stream)
    assert seen == ["Part"]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "overloaded_error"


async def test_an_interrupted_reply_ends_with_an_error_event_not_a_silent_stop() -> None:
    body = await streamed([TextDelta("Half a"), done("Half a", interrupted="node reset")])
    names = [name for name, _ in events_of(body)]
    assert names[-1] == "error" and "message_stop" not in names
    error = events_of(body)[-1][1]["error"]
    assert error["type"] == "api_error" and "node reset" in error["message"]
    with pytest.raises(anthropic.APIStatusError, match="node reset"), \
            client(body).messages.stream(**ASK) as stream:
        stream.get_final_message()


async def test_an_unexpected_failure_mid_stream_is_an_error_event_without_details() -> None:
    async def source() -> AsyncIterator[StreamEvent]:
        yield TextDelta("Part")
        raise RuntimeError("secret internals")
    body = b"".join([frame async for frame in DIALECT.stream(CALL, source())])
    assert events_of(body)[-1] == ("error", {"type": "error", "error": {
        "type": "api_error", "message": "internal error"}})


async def test_an_error_before_any_event_is_raised_for_an_http_status() -> None:
    with pytest.raises(ModelNotFound):
        await streamed([ModelNotFound("nope", ["smart-agent"])])


async def test_events_that_end_without_a_reply_done_end_with_an_error_event() -> None:
    body = await streamed([TextDelta("cut")])
    assert events_of(body)[-1][0] == "error"
    assert events_of(body)[0][0] == "message_start"


async def test_each_text_delta_is_one_frame() -> None:
    async def source() -> AsyncIterator[StreamEvent]:
        for event in (TextDelta("a"), TextDelta("b"), done("ab")):
            yield event
    frames = [frame async for frame in DIALECT.stream(CALL, source())]
    assert len(frames) == 3
    assert frames[1] == (b'event: content_block_delta\ndata: {"type":"content_block_delta",'
                         b'"index":0,"delta":{"type":"text_delta","text":"b"}}\n\n')


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "status", "kind", "raised"), [
    (BadRequest("messages.0.role: bad", param="messages.0.role"), 400,
     "invalid_request_error", anthropic.BadRequestError),
    (Unsupported("top_k", "no"), 400, "invalid_request_error", anthropic.BadRequestError),
    (Unauthorized("no key"), 401, "authentication_error", anthropic.AuthenticationError),
    (Forbidden("not this route"), 403, "permission_error", anthropic.PermissionDeniedError),
    (ModelNotFound("nope", ["smart-agent", "nellie"]), 404, "not_found_error",
     anthropic.NotFoundError),
    (BodyTooLarge(4096), 413, "request_too_large", anthropic.APIStatusError),
    (RateLimited("slow down", 3), 429, "rate_limit_error", anthropic.RateLimitError),
    (NoStepAnswered("all down"), 503, "overloaded_error", anthropic.InternalServerError),
])
def test_errors_have_anthropic_shape_and_the_sdk_raises_its_class(
        error: GatewayError, status: int, kind: str, raised: type[Exception]) -> None:
    body = DIALECT.error(error)
    assert body == {"type": "error", "error": {"type": kind, "message": error.message}}
    assert error.status == status
    with pytest.raises(raised) as caught:
        client(body, status).messages.create(**ASK)
    assert isinstance(caught.value, anthropic.APIStatusError)
    assert caught.value.status_code == status
    assert caught.value.body == body
    json.dumps(body)  # plain JSON
