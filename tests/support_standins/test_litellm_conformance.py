"""LiteLLM against the stand-ins: the chain reaches every node through ``litellm``, so the
stand-ins must be good enough for it — and these tests pin how LiteLLM reports each outcome.

Ollama stand-ins run in a :class:`ServerThread`: after the first successful Ollama call per
(model, api_base) LiteLLM's success logging does a *synchronous* ``POST /api/show`` from inside
the event loop (``OllamaModelInfo.get_runtime_model_info``), which deadlocks a server living on
the caller's own loop unless the model is in ``litellm.model_cost``.
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no price-map fetch
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import litellm
import pytest
from litellm.exceptions import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    MidStreamFallbackError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)

from tests.support.standins import (
    AnthropicStandin,
    OllamaStandin,
    OpenAIQuirks,
    OpenAIStandin,
    Script,
    ServerThread,
)

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "say hello please"},
]
OLLAMA_MODEL = "ollama_chat/qwen2.5:14b"
CLAUDE = "anthropic/claude-haiku-4-5"
USAGE = {"include_usage": True}


@dataclass
class Collected:
    text: str = ""
    chunks: int = 0
    usage: tuple[int, int] | None = None
    finish_reasons: list[str] = field(default_factory=list)


async def collect(**kwargs: Any) -> Collected:
    out = Collected()
    stream = await litellm.acompletion(messages=MESSAGES, stream=True, **kwargs)
    async for chunk in stream:
        out.chunks += 1
        for choice in chunk.choices:
            out.text += choice.delta.content or ""
            if choice.finish_reason:
                out.finish_reasons.append(choice.finish_reason)
        usage = getattr(chunk, "usage", None)
        if usage:
            out.usage = (usage.prompt_tokens, usage.completion_tokens)
    return out


async def call(stream: bool, **kwargs: Any) -> None:
    """One completion, streamed to the end or not."""
    if stream:
        await collect(**kwargs)
    else:
        await litellm.acompletion(messages=MESSAGES, **kwargs)


@pytest.fixture
def ollama_node() -> Iterator[ServerThread[OllamaStandin]]:
    with ServerThread(OllamaStandin) as node:
        yield node


@pytest.fixture
async def claude() -> AsyncIterator[AnthropicStandin]:
    async with AnthropicStandin(api_key="test") as server:
        yield server


@pytest.fixture
async def openai_node() -> AsyncIterator[OpenAIStandin]:
    async with OpenAIStandin(api_key="x") as server:
        yield server


def ollama_kw(node: ServerThread[OllamaStandin]) -> dict[str, Any]:
    return {"model": OLLAMA_MODEL, "api_base": node.base_url}


def claude_kw(server: AnthropicStandin) -> dict[str, Any]:
    return {"model": CLAUDE, "api_base": server.base_url, "api_key": "test"}


def openai_kw(server: OpenAIStandin) -> dict[str, Any]:
    return {"model": "openai/x", "api_base": server.base_url + "/v1", "api_key": "x"}


# -- Ollama (ollama_chat) ------------------------------------------------------------------


async def test_ollama_stream_text_and_usage(ollama_node: ServerThread[OllamaStandin]) -> None:
    ollama_node.server.script = Script(reply="Hello world", chunk_chars=4, prompt_tokens=8)
    out = await collect(stream_options=USAGE, **ollama_kw(ollama_node))
    assert out.text == "Hello world"
    assert out.finish_reasons == ["stop"]
    assert out.usage == (8, 3), "usage comes from prompt_eval_count / eval_count"
    chat = ollama_node.server.requests_to("/api/chat")[0].body
    assert (chat["model"], chat["stream"]) == ("qwen2.5:14b", True)
    assert chat["messages"][0] == {"role": "system", "content": "Be brief.", "images": []}
    # For models it does not know, LiteLLM's success logging fetches model info with a
    # blocking call to /api/show; homecrew registers its models (inference/_litellm.py) so
    # that never happens, and that registration is process-wide, so it is not asserted here.


async def test_ollama_stream_usage_needs_include_usage(
    ollama_node: ServerThread[OllamaStandin],
) -> None:
    out = await collect(**ollama_kw(ollama_node))
    assert out.text == "Hello from the stand-in."
    assert out.usage is None


async def test_ollama_non_stream_usage_and_format(
    ollama_node: ServerThread[OllamaStandin],
) -> None:
    ollama_node.server.script = Script(reply="{}", prompt_tokens=5, completion_tokens=1)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    response = await litellm.acompletion(
        messages=MESSAGES, response_format=response_format, **ollama_kw(ollama_node)
    )
    assert response.choices[0].message.content == "{}"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (5, 1)
    assert ollama_node.server.requests_to("/api/chat")[0].body["format"] == schema


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, ServiceUnavailableError),
        (400, BadRequestError),
        (429, RateLimitError),
        (500, InternalServerError),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_ollama_http_errors(
    ollama_node: ServerThread[OllamaStandin], status: int, error: type[Exception], stream: bool
) -> None:
    ollama_node.server.script = Script.http_error(status)
    with pytest.raises(error) as raised:
        await call(stream, **ollama_kw(ollama_node))
    assert getattr(raised.value, "status_code", None) == status
    assert len(ollama_node.server.requests_to("/api/chat")) == 1, "no retries"


async def test_ollama_unknown_model(ollama_node: ServerThread[OllamaStandin]) -> None:
    with pytest.raises(NotFoundError, match="model 'mistral' not found"):
        await collect(model="ollama_chat/mistral", api_base=ollama_node.base_url)


@pytest.mark.parametrize("reply", ["Hello world", ""], ids=["after-first-token", "first-line"])
async def test_ollama_error_line_surfaces_as_bad_request(
    ollama_node: ServerThread[OllamaStandin], reply: str
) -> None:
    # Deviation: LiteLLM does not recognise {"error": ...} lines; the missing "message" key
    # becomes a KeyError it reports as a 400 BadRequestError, even before the first token.
    ollama_node.server.script = Script.error_mid_stream("model runner crashed", reply=reply)
    with pytest.raises(BadRequestError, match="model runner crashed") as raised:
        await collect(**ollama_kw(ollama_node))
    assert raised.value.status_code == 400


async def test_ollama_cut_stream(ollama_node: ServerThread[OllamaStandin]) -> None:
    ollama_node.server.script = Script.cut_after_first_chunk(reply="Hello world")
    with pytest.raises(MidStreamFallbackError) as raised:
        await collect(**ollama_kw(ollama_node))
    assert raised.value.generated_content == "Hell"
    assert isinstance(raised.value, ServiceUnavailableError)


async def test_ollama_hang_times_out(ollama_node: ServerThread[OllamaStandin]) -> None:
    ollama_node.server.script = Script.hang()
    with pytest.raises(Timeout):
        await collect(timeout=0.5, **ollama_kw(ollama_node))


# -- Anthropic -----------------------------------------------------------------------------


async def test_anthropic_stream_text_and_usage(claude: AnthropicStandin) -> None:
    claude.script = Script(reply="Hello world", chunk_chars=4, prompt_tokens=9)
    out = await collect(stream_options=USAGE, **claude_kw(claude))
    assert out.text == "Hello world"
    assert out.usage == (9, 3)
    assert out.finish_reasons == ["stop"]
    request = claude.requests_to("/v1/messages")[0]
    assert request.headers["x-api-key"] == "test"
    assert request.headers["anthropic-version"]
    assert request.body["system"] == [{"type": "text", "text": "Be brief."}]
    assert all(m["role"] != "system" for m in request.body["messages"])
    assert isinstance(request.body["max_tokens"], int)


async def test_anthropic_stream_without_include_usage(claude: AnthropicStandin) -> None:
    out = await collect(**claude_kw(claude))
    assert out.text == "Hello from the stand-in."
    assert out.usage is None


async def test_anthropic_non_stream(claude: AnthropicStandin) -> None:
    claude.script = Script(reply="Hi", prompt_tokens=4, completion_tokens=1)
    response = await litellm.acompletion(messages=MESSAGES, **claude_kw(claude))
    assert response.choices[0].message.content == "Hi"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (4, 1)


@pytest.mark.parametrize(
    ("status", "error", "reported"),
    [
        (400, BadRequestError, 400),
        (401, AuthenticationError, 401),
        (404, NotFoundError, 404),
        (429, RateLimitError, 429),
        (500, InternalServerError, 500),
        (529, InternalServerError, 500),  # 529 overloaded_error is reported as a 500
    ],
)
async def test_anthropic_http_errors(
    claude: AnthropicStandin, status: int, error: type[Exception], reported: int
) -> None:
    claude.script = Script.http_error(status)
    with pytest.raises(error) as raised:
        await collect(**claude_kw(claude))
    assert getattr(raised.value, "status_code", None) == reported
    assert len(claude.requests) == 1, "no retries"


async def test_anthropic_wrong_key(claude: AnthropicStandin) -> None:
    with pytest.raises(AuthenticationError):
        await collect(model=CLAUDE, api_base=claude.base_url, api_key="wrong")


@pytest.mark.parametrize("reply", ["Hello world", ""], ids=["after-first-token", "no-token"])
async def test_anthropic_error_event(claude: AnthropicStandin, reply: str) -> None:
    claude.script = Script.error_mid_stream(reply=reply)
    with pytest.raises(MidStreamFallbackError, match="Overloaded") as raised:
        await collect(**claude_kw(claude))
    assert raised.value.generated_content == reply[:4]


async def test_anthropic_cut_stream(claude: AnthropicStandin) -> None:
    claude.script = Script.cut_after_first_chunk(reply="Hello world")
    with pytest.raises(MidStreamFallbackError) as raised:
        await collect(**claude_kw(claude))
    assert raised.value.generated_content == "Hell"


async def test_anthropic_first_token_timeout_is_a_mid_stream_error(
    claude: AnthropicStandin,
) -> None:
    # Headers and message_start arrive at once, so a read timeout before the first text delta
    # is reported as MidStreamFallbackError (status 408 inside), not as litellm.Timeout.
    claude.script = Script(first_token_delay=5)
    with pytest.raises(MidStreamFallbackError) as raised:
        await collect(timeout=0.3, **claude_kw(claude))
    assert raised.value.generated_content == ""
    assert isinstance(raised.value.original_exception, Timeout)


# -- OpenAI-compatible ---------------------------------------------------------------------


@pytest.mark.parametrize("quirks", [OpenAIQuirks(), OpenAIQuirks.mlx_lm()], ids=["openai", "mlx"])
async def test_openai_stream_text_and_usage(
    openai_node: OpenAIStandin, quirks: OpenAIQuirks
) -> None:
    openai_node.quirks = quirks
    openai_node.script = Script(reply="Hello world", chunk_chars=4, prompt_tokens=6)
    out = await collect(stream_options=USAGE, **openai_kw(openai_node))
    assert out.text == "Hello world"
    assert out.usage == (6, 3)
    assert out.finish_reasons == ["stop"]
    body = openai_node.requests_to("/v1/chat/completions")[0].body
    assert body["stream_options"] == USAGE


async def test_openai_non_stream_and_response_format(openai_node: OpenAIStandin) -> None:
    openai_node.script = Script(reply="{}", prompt_tokens=3, completion_tokens=1)
    response = await litellm.acompletion(
        messages=MESSAGES, response_format={"type": "json_object"}, **openai_kw(openai_node)
    )
    assert response.choices[0].message.content == "{}"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3, 1)
    body = openai_node.requests_to("/v1/chat/completions")[0].body
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, ServiceUnavailableError),
    ],
)
async def test_openai_http_errors(
    openai_node: OpenAIStandin, status: int, error: type[Exception]
) -> None:
    openai_node.script = Script.http_error(status)
    with pytest.raises(error) as raised:
        await collect(max_retries=0, **openai_kw(openai_node))
    assert getattr(raised.value, "status_code", None) == status
    assert len(openai_node.requests) == 1


async def test_openai_sdk_retries_by_default(openai_node: OpenAIStandin) -> None:
    # The openai SDK under LiteLLM retries 429/5xx twice with back-off unless max_retries=0.
    openai_node.script = Script.http_error(503)
    with pytest.raises(ServiceUnavailableError):
        await collect(**openai_kw(openai_node))
    assert len(openai_node.requests) == 3


@pytest.mark.parametrize(
    "script",
    [Script.error_mid_stream(reply="Hello world"), Script.cut_after_first_chunk("Hello world")],
    ids=["error-chunk", "cut"],
)
async def test_openai_broken_stream(openai_node: OpenAIStandin, script: Script) -> None:
    openai_node.script = script
    with pytest.raises(MidStreamFallbackError) as raised:
        await collect(max_retries=0, **openai_kw(openai_node))
    assert raised.value.generated_content == "Hell"


async def test_openai_first_token_timeout_and_slow_stream(openai_node: OpenAIStandin) -> None:
    # The timeout bounds each read, not the whole reply: a stream that keeps talking survives
    # a total time above it, while silence after the headers raises litellm.Timeout.
    openai_node.script = Script(reply="abcdef", chunk_chars=1, chunk_delay=0.15)
    out = await collect(timeout=0.5, max_retries=0, **openai_kw(openai_node))
    assert out.text == "abcdef"
    openai_node.script = Script(first_token_delay=5)
    with pytest.raises(Timeout):
        await collect(timeout=0.3, max_retries=0, **openai_kw(openai_node))
