"""The native step caller over real HTTP against the OpenAI-compatible and Ollama stand-ins:
what it sends, what it reads back, and how every failure maps to :mod:`inference.errors`.

The pure protocol functions are in ``test_wire.py``; which nodes get the native client in
``test_node_client.py``; the whole chain over both edges (native and LiteLLM) in
``test_chain.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import pytest

from inference.config import ModelConfig, NodeConfig, StepTimeouts
from inference.deadlines import Deadlines
from inference.errors import (
    ContextTooLong,
    NodeTimeout,
    NodeUnavailable,
    RequestRejected,
    StepError,
)
from inference.native import NativeCaller
from inference.step import Step, StepCaller, Usage
from inference.types import ChatRequest, Message
from tests.support.standins import (
    BlackholeServer,
    OllamaStandin,
    OpenAIQuirks,
    OpenAIStandin,
    RecordedRequest,
    Script,
    StandinServer,
    refused_url,
)

KEY = "sk-local-5f2c9e77"
CONTEXT_MESSAGES = [
    "This model's maximum context length is 32768 tokens. However, you requested 40000.",
    "the request exceeds the available context size, try increasing it",  # llama.cpp
]


@dataclass
class Target:
    """A stand-in node and how the native client reaches it."""

    kind: str
    server: StandinServer
    url: str  # the node's base_url
    path: str  # the chat endpoint on the stand-in

    def step(self, model: str = "qwen2.5:14b", connect: float = 1.0,
             first_token: float = 2.0, **node: Any) -> Step:
        return step_on(self.kind, self.url, model, connect, first_token, **node)

    def sent(self) -> RecordedRequest:
        return self.server.requests_to(self.path)[-1]


def step_on(kind: str, url: str, model: str = "qwen2.5:14b", connect: float = 1.0,
            first_token: float = 2.0, **node: Any) -> Step:
    config = NodeConfig.model_validate({"kind": kind, "base_url": url, **node})
    return Step(route="r", depth=0, alias="local", node_name="box", node=config,
                model=ModelConfig(node="box", model=model),
                timeouts=StepTimeouts(connect=connect, first_token=first_token, total=5))


def ask(text: str = "hello there", **kw: Any) -> ChatRequest:
    return ChatRequest(route="r", messages=[Message("user", text)], **kw)


def raw(body: str) -> Script:
    """A 200 reply with exactly ``body``: wire shapes the protocol stand-ins never send."""
    return Script.http_error(200, body=body.encode())


async def run(caller: StepCaller, step: Step, request: ChatRequest | None = None
              ) -> tuple[str, Usage]:
    text: list[str] = []
    usage: Usage | None = None
    async with aclosing(caller.stream(step, request or ask())) as events:
        async for event in events:
            if isinstance(event, Usage):
                usage = event
            else:
                assert usage is None, "text after the usage event"
                text.append(event.text)
    assert usage is not None
    return "".join(text), usage


async def failure(caller: StepCaller, step: Step, request: ChatRequest | None = None
                  ) -> tuple[StepError, str]:
    """The step's error, and the text that reached the caller before it."""
    text: list[str] = []

    async def consume() -> None:
        async with aclosing(caller.stream(step, request or ask())) as events:
            async for event in events:
                assert not isinstance(event, Usage), "a failing step reported usage"
                text.append(event.text)

    with pytest.raises(StepError) as caught:
        await consume()
    return caught.value, "".join(text)


@pytest.fixture
async def openai() -> AsyncIterator[Target]:
    async with OpenAIStandin(script=Script(reply="from mlx")) as server:
        yield Target("openai", server, f"{server.base_url}/v1", "/v1/chat/completions")


@pytest.fixture
async def ollama() -> AsyncIterator[Target]:
    async with OllamaStandin(script=Script(reply="from ollama")) as server:
        yield Target("ollama", server, server.base_url, "/api/chat")


@pytest.fixture(params=["openai", "ollama"])
def target(request: pytest.FixtureRequest) -> Target:
    chosen: Target = request.getfixturevalue(request.param)
    return chosen


# -- what is sent ----------------------------------------------------------------------------

async def test_openai_request(caller: NativeCaller, openai: Target) -> None:
    request = ask(temperature=0.3, max_tokens=50, top_p=0.8, seed=1, stop=["END"],
                  response_format={"type": "json_object"})
    await run(caller, openai.step("mlx-community/Qwen2.5-14B-Instruct-4bit"), request)
    sent = openai.sent()
    assert sent.body == {
        "model": "mlx-community/Qwen2.5-14B-Instruct-4bit",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": True, "stream_options": {"include_usage": True},
        "temperature": 0.3, "max_tokens": 50, "top_p": 0.8, "seed": 1, "stop": ["END"],
        "response_format": {"type": "json_object"},
    }
    assert sent.headers["Content-Type"] == "application/json"
    assert "Authorization" not in sent.headers


async def test_ollama_request(caller: NativeCaller, ollama: Target) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    request = ask(temperature=0.3, max_tokens=50, top_p=0.8, seed=1, stop=["END"],
                  response_format={"type": "json_schema", "json_schema": {"schema": schema}})
    await run(caller, ollama.step("qwen2.5:14b"), request)
    assert ollama.sent().body == {
        "model": "qwen2.5:14b",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": True,
        "options": {"temperature": 0.3, "num_predict": 50, "top_p": 0.8, "seed": 1,
                    "stop": ["END"]},
        "format": schema,
    }


@pytest.mark.parametrize("trailing", ["", "/"])
async def test_base_url_with_or_without_trailing_slash(
    caller: NativeCaller, target: Target, trailing: str
) -> None:
    target.url += trailing
    text, _ = await run(caller, target.step())
    assert text.startswith("from ") and len(target.server.requests_to(target.path)) == 1


# -- what is read back -----------------------------------------------------------------------

async def test_text_and_usage_reported_by_the_server(caller: NativeCaller, target: Target
                                                     ) -> None:
    target.server.script = Script(reply="one two three", chunk_chars=3, prompt_tokens=11,
                                  completion_tokens=22)
    text, usage = await run(caller, target.step())
    assert text == "one two three"
    assert usage == Usage(prompt_tokens=11, completion_tokens=22, finish_reason="stop")


async def test_mlx_lm_quirks_and_keepalive_comments(caller: NativeCaller) -> None:
    script = Script(reply="quirky but fine", first_token_delay=0.2, completion_tokens=4)
    async with OpenAIStandin(quirks=OpenAIQuirks.mlx_lm(keepalive_comments=3),
                             script=script) as server:
        text, usage = await run(caller, step_on("openai", server.base_url + "/v1"))
    assert text == "quirky but fine"
    assert (usage.completion_tokens, usage.finish_reason, usage.estimated) == (4, "stop", False)


async def test_usage_estimated_when_the_server_sends_none(caller: NativeCaller,
                                                          openai: Target) -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "y" * 20}, "finish_reason": "length"}]}
    openai.server.script = raw(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n")
    text, usage = await run(caller, openai.step(), ask("x" * 40))
    assert text == "y" * 20
    assert usage == Usage(prompt_tokens=10, completion_tokens=5, finish_reason="length",
                          estimated=True)


async def test_concurrent_streams_share_the_caller(caller: NativeCaller, target: Target
                                                   ) -> None:
    target.server.script = Script(reply="same reply", chunk_chars=1, chunk_delay=0.01)
    results = await asyncio.gather(*(run(caller, target.step()) for _ in range(20)))
    assert {text for text, _ in results} == {"same reply"}


# -- HTTP errors -----------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "error"), [
    (400, RequestRejected), (401, NodeUnavailable), (404, NodeUnavailable),
    (429, NodeUnavailable), (500, NodeUnavailable), (503, NodeUnavailable),
])
async def test_http_errors_are_mapped(
    caller: NativeCaller, target: Target, status: int, error: type[StepError]
) -> None:
    target.server.script = Script.http_error(status, message=f"scripted {status} failure")
    exc, text = await failure(caller, target.step())
    assert type(exc) is error
    assert str(exc) == f"HTTP {status}: scripted {status} failure"
    assert text == ""


@pytest.mark.parametrize("message", CONTEXT_MESSAGES)
async def test_context_too_long(caller: NativeCaller, target: Target, message: str) -> None:
    target.server.script = Script.http_error(400, message=message)
    exc, _ = await failure(caller, target.step())
    assert type(exc) is ContextTooLong
    assert message in str(exc)


async def test_plain_text_error_body(caller: NativeCaller, openai: Target) -> None:
    openai.server.script = Script.http_error(422, body="unsupported parameter: logit_bias\n")
    exc, _ = await failure(caller, openai.step())
    assert type(exc) is RequestRejected
    assert str(exc) == "HTTP 422: unsupported parameter: logit_bias"


async def test_unknown_model_is_the_nodes_problem(caller: NativeCaller) -> None:
    async with OllamaStandin() as ollama, OpenAIStandin(strict_models=True) as vllm:
        from_ollama, _ = await failure(caller, step_on("ollama", ollama.base_url, "nope:1b"))
        from_vllm, _ = await failure(caller, step_on("openai", vllm.base_url + "/v1", "nope"))
    assert type(from_ollama) is NodeUnavailable and "model 'nope:1b' not found" in str(from_ollama)
    assert type(from_vllm) is NodeUnavailable and "`nope` does not exist" in str(from_vllm)


# -- failures mid-stream and below HTTP ------------------------------------------------------

async def test_error_mid_stream(caller: NativeCaller, target: Target) -> None:
    target.server.script = Script.error_mid_stream("engine crashed", reply="abcdefgh")
    exc, text = await failure(caller, target.step())
    assert type(exc) is NodeUnavailable
    assert text == "abcd"
    assert str(exc) == f"{target.kind} stream error: engine crashed"


async def test_error_line_before_any_text(caller: NativeCaller, target: Target) -> None:
    target.server.script = Script.error_mid_stream("model failed to load", reply="")
    exc, text = await failure(caller, target.step())
    assert (type(exc), text) == (NodeUnavailable, "")
    assert "model failed to load" in str(exc)


async def test_stream_cut_after_first_chunk(caller: NativeCaller, target: Target) -> None:
    target.server.script = Script.cut_after_first_chunk(reply="abcdefgh")
    exc, text = await failure(caller, target.step())
    assert (type(exc), text) == (NodeUnavailable, "abcd")


@pytest.mark.parametrize(("body", "message"), [
    ('data: {"choices": [{"delta": {"content": "hi"}}]}\n\n', "before its end marker"),
    ("data: {not json\n\n", "not JSON (JSONDecodeError"),
    ("data: null\n\n", "expected a JSON object"),
    ('{"object": "chat.completion", "choices": []}', "before its end marker"),
])
async def test_malformed_openai_streams(
    caller: NativeCaller, openai: Target, body: str, message: str
) -> None:
    openai.server.script = raw(body)
    exc, _ = await failure(caller, openai.step())
    assert type(exc) is NodeUnavailable
    assert message in str(exc)


async def test_a_long_line_is_read_whole(caller: NativeCaller, openai: Target) -> None:
    openai.server.script = Script(reply="x" * 600_000, chunk_chars=0)
    text, usage = await run(caller, openai.step())
    assert text == "x" * 600_000
    assert usage.finish_reason == "stop"


async def test_connection_refused(caller: NativeCaller, target: Target) -> None:
    url = refused_url() + ("/v1" if target.kind == "openai" else "")
    exc, _ = await failure(caller, step_on(target.kind, url))
    assert type(exc) is NodeUnavailable
    assert str(exc).startswith("cannot connect to 127.0.0.1:") and "connection refused" in str(exc)


async def test_silent_node_is_cut_by_the_first_token_deadline(
    caller: NativeCaller, target: Target
) -> None:
    target.server.script = Script.hang()
    exc, _ = await failure(Deadlines(caller), target.step(first_token=0.3))
    assert type(exc) is NodeTimeout
    assert len(target.server.requests_to(target.path)) == 1


async def test_blackhole_is_cut_by_the_first_token_deadline(caller: NativeCaller) -> None:
    async with BlackholeServer() as hole:
        exc, _ = await failure(Deadlines(caller), step_on("ollama", hole.base_url,
                                                          first_token=0.3))
        assert hole.connections == 1
    assert type(exc) is NodeTimeout


async def test_connect_timeout(caller: NativeCaller, unanswered_port: int) -> None:
    url = f"http://127.0.0.1:{unanswered_port}/v1"
    exc, _ = await failure(caller, step_on("openai", url, connect=0.3, first_token=5))
    assert type(exc) is NodeTimeout
    assert "connecting to box timed out" in str(exc)


# -- API keys --------------------------------------------------------------------------------

async def test_api_key_is_sent_as_bearer(caller: NativeCaller, target: Target) -> None:
    await run(caller, target.step(api_key=KEY))
    assert target.sent().headers["Authorization"] == f"Bearer {KEY}"


async def test_key_checking_server(caller: NativeCaller) -> None:
    async with OpenAIStandin(api_key=KEY) as server:
        text, _ = await run(caller, step_on("openai", server.base_url + "/v1", api_key=KEY))
        exc, _ = await failure(caller, step_on("openai", server.base_url + "/v1"))
    assert text
    assert type(exc) is NodeUnavailable and str(exc).startswith("HTTP 401")


@pytest.mark.parametrize("where", ["http", "mid-stream", "refused"])
async def test_api_key_never_appears_in_errors(
    caller: NativeCaller, target: Target, where: str
) -> None:
    echo = f"Incorrect API key provided: {KEY}"
    url = target.url
    if where == "http":
        target.server.script = Script.http_error(401, message=echo)
    elif where == "mid-stream":
        target.server.script = Script.error_mid_stream(echo)
    else:
        url = refused_url() + "/v1"
    exc, _ = await failure(caller, step_on(target.kind, url, api_key=KEY))
    assert KEY not in str(exc) and KEY not in repr(exc)
    if where != "refused":
        assert "Incorrect API key provided: ***" in str(exc)
