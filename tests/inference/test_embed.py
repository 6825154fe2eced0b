"""Embeddings through the whole inference stack (``InferenceStack.embed``) against the
Ollama and OpenAI-compatible stand-ins: both wires, fall-back, health, rejections, the
ledger on the real stores, ``dimensions``, malformed answers and the config rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from inference.config import InferenceSettings
from inference.configfile import load_model
from inference.errors import (
    AllStepsFailed,
    ConfigError,
    NodeTimeout,
    RequestRejected,
    UnknownRouteError,
)
from inference.runtime import InferenceStack
from inference.types import ChatRequest, EmbedRequest, Message
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, OpenAIStandin, Script, refused_url
from tests.support.standins.embedding import embedding_of

TEXTS = ("the cat sat on the mat", "a local-first homelab")
KEY = "sk-embed-3c1d77a0"


def embed_settings(tmp_path: Path, first: tuple[str, str], second: tuple[str, str] | None = None,
                   *, models: Mapping[str, Mapping[str, Any]] | None = None,
                   nodes: Mapping[str, Mapping[str, Any]] | None = None,
                   **sections: Any) -> Any:
    """An ``embed`` route over one or two nodes: ``(kind, base_url)`` each, plus a chat
    route on the first node (a node serves both)."""
    node_map: dict[str, Any] = {"first": {"kind": first[0], "base_url": first[1]}}
    model_map: dict[str, Any] = {
        "first-embed": {"node": "first", "model": "nomic-embed-text", "embedding": True},
        "first-chat": {"node": "first", "model": "qwen2.5:14b"},
    }
    steps = ["first-embed"]
    if second is not None:
        node_map["second"] = {"kind": second[0], "base_url": second[1]}
        model_map["second-embed"] = {"node": "second", "model": "text-embedding-3-small",
                                     "embedding": True}
        steps.append("second-embed")
    node_map.update(nodes or {})
    model_map.update(models or {})
    return make_settings(nodes=node_map, models=model_map,
                         routes={"embed": steps, "chat": ["first-chat"]},
                         data_dir=tmp_path, **sections)


def ask(*texts: str, **kw: Any) -> EmbedRequest:
    return EmbedRequest(route="embed", inputs=texts or TEXTS, **kw)


@asynccontextmanager
async def stack_of(settings: Any) -> AsyncIterator[InferenceStack]:
    async with InferenceStack.open(settings, probes=False) as stack:
        yield stack


def url_of(server: OllamaStandin | OpenAIStandin) -> tuple[str, str]:
    if isinstance(server, OllamaStandin):
        return "ollama", server.base_url
    return "openai", f"{server.base_url}/v1"


# -- the two wires ----------------------------------------------------------------------------


async def test_ollama_embeds_over_api_embed(tmp_path: Path) -> None:
    async with (
        OllamaStandin(models=["nomic-embed-text"]) as ollama,
        stack_of(embed_settings(tmp_path, url_of(ollama))) as stack,
    ):
        result = await stack.embed(ask())
    assert result.vectors == tuple(tuple(embedding_of(t)) for t in TEXTS)
    assert (result.node, result.model, result.upstream_model) == (
        "first", "first-embed", "nomic-embed-text")
    assert result.prompt_tokens == sum(len(t.split()) for t in TEXTS)
    assert (result.fallback_depth, result.fell_back_from) == (0, ())
    sent = ollama.requests_to("/api/embed")[-1].body
    assert sent == {"model": "nomic-embed-text", "input": list(TEXTS)}


async def test_openai_compatible_node_embeds_over_v1_embeddings(tmp_path: Path) -> None:
    async with OpenAIStandin(api_key=KEY) as node:
        settings = embed_settings(tmp_path, url_of(node),
                                  nodes={"first": {"kind": "openai", "api_key": KEY,
                                                   "base_url": f"{node.base_url}/v1"}})
        async with stack_of(settings) as stack:
            result = await stack.embed(ask("one text"))
    assert result.vectors == (tuple(embedding_of("one text")),)
    assert result.prompt_tokens == 2
    sent = node.requests_to("/v1/embeddings")[-1]
    assert sent.body == {"model": "nomic-embed-text", "input": ["one text"],
                         "encoding_format": "float"}
    assert sent.headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("kind", ["ollama", "openai"])
async def test_dimensions_pass_through(tmp_path: Path, kind: str) -> None:
    server = OllamaStandin(models=["nomic-embed-text"]) if kind == "ollama" else OpenAIStandin()
    async with (
        server,
        stack_of(embed_settings(tmp_path, url_of(server))) as stack,
    ):
        result = await stack.embed(ask(dimensions=4))
    assert [len(v) for v in result.vectors] == [4, 4]
    assert result.vectors[0] == pytest.approx(embedding_of(TEXTS[0], dimensions=4))
    assert server.requests[-1].body["dimensions"] == 4


async def test_a_node_that_ignores_dimensions_falls_through(tmp_path: Path) -> None:
    async with OllamaStandin(models=["nomic-embed-text"]) as ollama, OpenAIStandin() as openai:
        ollama.honours_dimensions = False
        settings = embed_settings(tmp_path, url_of(ollama), url_of(openai))
        async with stack_of(settings) as stack:
            result = await stack.embed(ask(dimensions=8))
            assert stack.board.get("first").consecutive_failures == 0  # it answered
    assert result.node == "second"
    assert [len(v) for v in result.vectors] == [8, 8]
    assert "dimensions_unsupported" in result.fell_back_from[0]
    assert "16 dimensions, not the 8 asked for" in result.fell_back_from[0]


# -- fall-back -------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["refused", "http-500", "timeout"])
async def test_falls_back_to_the_next_node(tmp_path: Path, failure: str) -> None:
    async with OllamaStandin(models=["nomic-embed-text"]) as ollama, OpenAIStandin() as openai:
        first = ("ollama", refused_url()) if failure == "refused" else url_of(ollama)
        if failure == "http-500":
            ollama.queue(Script.http_error(500, message="llama runner crashed"))
        if failure == "timeout":
            ollama.queue(Script.hang())
        settings = embed_settings(tmp_path, first, url_of(openai),
                                  timeouts={"total": 0.5})
        async with stack_of(settings) as stack:
            async with asyncio.timeout(5):
                result = await stack.embed(ask())
    assert result.node == "second"
    assert result.fallback_depth == 1
    assert result.vectors == tuple(tuple(embedding_of(t)) for t in TEXTS)
    reason = result.fell_back_from[0]
    expected = {"refused": "connection refused", "http-500": "llama runner crashed",
                "timeout": "no embeddings within 0.5s"}[failure]
    assert expected in reason


async def test_a_node_the_health_board_has_down_is_skipped_without_a_call(
    tmp_path: Path,
) -> None:
    async with OllamaStandin(models=["nomic-embed-text"]) as ollama, OpenAIStandin() as openai:
        settings = embed_settings(tmp_path, url_of(ollama), url_of(openai))
        async with stack_of(settings) as stack:
            stack.board.record_failure("first", NodeTimeout("no first token within 2s"))
            result = await stack.embed(ask())
            assert stack.route_status("embed").serving == "second-embed"
    assert result.node == "second"
    assert "circuit_open" in result.fell_back_from[0]
    assert ollama.requests_to("/api/embed") == []


async def test_an_embedding_failure_counts_against_the_node_for_chat_too(tmp_path: Path) -> None:
    async with OllamaStandin(models=["nomic-embed-text", "qwen2.5:14b"]) as ollama:
        ollama.queue(Script.hang())
        settings = embed_settings(tmp_path, url_of(ollama), timeouts={"total": 0.3})
        async with stack_of(settings) as stack:
            with pytest.raises(AllStepsFailed) as failed:
                await stack.embed(ask())
            assert not stack.board.get("first").up  # a timeout opens the circuit at once
            assert stack.route_status("chat").serving is None
    assert [f.kind for f in failed.value.failures] == ["timeout"]


async def test_every_step_failing_lists_each(tmp_path: Path) -> None:
    async with OllamaStandin(models=["nomic-embed-text"]) as ollama, OpenAIStandin() as openai:
        ollama.queue(Script.http_error(503))
        openai.queue(Script.http_error(500))
        settings = embed_settings(tmp_path, url_of(ollama), url_of(openai))
        async with stack_of(settings) as stack:
            with pytest.raises(AllStepsFailed) as failed:
                await stack.embed(ask())
    assert [(f.model, f.node, f.kind) for f in failed.value.failures] == [
        ("first-embed", "first", "unavailable"), ("second-embed", "second", "unavailable")]
    assert "HTTP 503" in failed.value.failures[0].reason


async def test_a_rejection_is_raised_at_once_not_retried(tmp_path: Path) -> None:
    async with OllamaStandin(models=["nomic-embed-text"]) as ollama, OpenAIStandin() as openai:
        ollama.queue(Script.http_error(400, message="input length exceeds the context length"))
        settings = embed_settings(tmp_path, url_of(ollama), url_of(openai))
        async with stack_of(settings) as stack:
            with pytest.raises(RequestRejected, match="context length"):
                await stack.embed(ask())
            assert stack.board.get("first").consecutive_failures == 0
    assert openai.requests_to("/v1/embeddings") == []


async def test_nothing_to_embed_is_rejected_before_any_call(tmp_path: Path) -> None:
    async with (
        OllamaStandin(models=["nomic-embed-text"]) as ollama,
        stack_of(embed_settings(tmp_path, url_of(ollama))) as stack,
    ):
        with pytest.raises(RequestRejected, match="inputs: nothing to embed"):
            await stack.embed(EmbedRequest(route="embed", inputs=()))
        with pytest.raises(RequestRejected, match="dimensions: must be at least 1"):
            await stack.embed(ask(dimensions=0))
    assert ollama.requests == []


# -- malformed answers -----------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "body", "words"), [
    ("ollama", '{"embeddings": [[0.1, "x"], [0.2, 0.3]]}', "embeddings.0.1"),
    ("ollama", '{"embeddings": [[0.1, 0.2]]}', "1 vectors for 2 inputs"),
    ("ollama", '{"embeddings": [[0.1, 0.2], [0.3]]}', "unequal or zero length"),
    ("ollama", "<html>502 Bad Gateway</html>", "not JSON"),
    ("openai", '{"data": [{"index": 0, "embedding": "AAAA"}]}', "data.0.embedding"),
    ("openai", '{"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]}',
     "indexes are not 0..n-1"),
    ("openai", '{"object": "list"}', "data: Field required"),
])
async def test_a_malformed_answer_is_a_clear_step_error(
    tmp_path: Path, kind: str, body: str, words: str
) -> None:
    server = OllamaStandin(models=["nomic-embed-text"]) if kind == "ollama" else OpenAIStandin()
    async with server:
        server.queue(Script.http_error(200, body=body.encode()))
        async with stack_of(embed_settings(tmp_path, url_of(server))) as stack:
            with pytest.raises(AllStepsFailed) as failed:
                await stack.embed(ask())
    (failure,) = failed.value.failures
    assert failure.kind == "unavailable"
    assert f"{kind} embeddings answer malformed" in failure.reason
    assert words in failure.reason


# -- the ledger ------------------------------------------------------------------------------


async def test_one_ledger_record_per_attempt_with_key_and_cost(
    tmp_path: Path, store_url: str | None
) -> None:
    async with OllamaStandin(models=["nomic-embed-text"]) as ollama, OpenAIStandin() as openai:
        ollama.queue(Script.http_error(500))
        openai.script = Script(prompt_tokens=1000)
        settings = embed_settings(
            tmp_path, url_of(ollama), url_of(openai),
            nodes={"second": {"kind": "openai", "base_url": f"{openai.base_url}/v1",
                              "cloud": True}},
            models={"second-embed": {"node": "second", "model": "text-embedding-3-small",
                                     "embedding": True,
                                     "price": {"input_per_mtok": 0.02, "output_per_mtok": 0}}},
            ledger={"database_url": store_url},
        )
        async with stack_of(settings) as stack:
            result = await stack.embed(ask(agent="nellie", key_name="editor"))
            await stack.ledger.flush()
            db = await stack.database()
            rows = await db.fetch("SELECT * FROM ledger ORDER BY fallback_depth")
    assert result.cost_usd == pytest.approx(1000 * 0.02e-6)
    assert [(r["node"], r["outcome"], r["fallback_depth"]) for r in rows] == [
        ("first", "unavailable", 0), ("second", "ok", 1)]
    failed, served = rows
    assert {r["key_name"] for r in rows} == {"editor"}
    assert {r["agent"] for r in rows} == {"nellie"}
    assert {r["route"] for r in rows} == {"embed"}
    assert "500" in (failed["error"] or "")
    assert (failed["prompt_tokens"], failed["cost_usd"]) == (0, 0.0)
    assert served["model"] == "second-embed"
    assert served["upstream_model"] == "text-embedding-3-small"
    assert (served["prompt_tokens"], served["completion_tokens"]) == (1000, 0)
    assert served["cost_usd"] == pytest.approx(1000 * 0.02e-6)
    assert served["cloud_equivalent_usd"] == pytest.approx(1000 * 0.02e-6)
    assert bool(served["cloud"]) is True
    assert served["ttft_s"] is None


async def test_a_local_embedding_costs_nothing_and_is_worth_no_chat_price(
    tmp_path: Path,
) -> None:
    async with (
        OllamaStandin(models=["nomic-embed-text"]) as ollama,
        stack_of(embed_settings(tmp_path, url_of(ollama))) as stack,
    ):
        result = await stack.embed(ask())
        await stack.ledger.flush()
        db = await stack.database()
        (row,) = await db.fetch("SELECT * FROM ledger")
    assert result.cost_usd == 0.0
    assert (row["cost_usd"], row["cloud_equivalent_usd"], row["outcome"]) == (0.0, 0.0, "ok")
    assert row["prompt_tokens"] == result.prompt_tokens


# -- routes and config -----------------------------------------------------------------------


async def test_chat_and_embedding_routes_are_kept_apart(tmp_path: Path) -> None:
    async with (
        OllamaStandin(models=["nomic-embed-text"]) as ollama,
        stack_of(embed_settings(tmp_path, url_of(ollama))) as stack,
    ):
        with pytest.raises(UnknownRouteError, match="unknown chat route 'embed'; "
                                                    "known chat routes: chat"):
            await stack.complete(ChatRequest(route="embed",
                                             messages=[Message("user", "hi")]))
        with pytest.raises(UnknownRouteError, match="unknown embedding route 'chat'; "
                                                    "known embedding routes: embed"):
            await stack.embed(EmbedRequest(route="chat", inputs=["hi"]))
        with pytest.raises(UnknownRouteError, match="unknown route 'nope'"):
            await stack.embed(EmbedRequest(route="nope", inputs=["hi"]))
        status = stack.route_status("embed")
    assert status.steps == (("first-embed", "first", True),)
    assert ollama.requests == []


@pytest.mark.parametrize(("change", "message"), [
    ({"routes": {"embed": ["first-embed", "first-chat"]}},
     "routes.embed: mixes embedding models (first-embed) with chat models (first-chat)"),
    ({"nodes": {"claude": {"kind": "anthropic", "api_key": "sk-x"}},
      "models": {"claude-embed": {"node": "claude", "model": "x", "embedding": True}}},
     "models.claude-embed.embedding: node 'claude' is of kind anthropic, which has no "
     "embeddings API"),
    ({"nodes": {"first": {"kind": "ollama", "base_url": "http://127.0.0.1:9",
                          "client": "litellm"}}},
     "models.first-embed.embedding: node 'first' has client: litellm"),
])
def test_embedding_config_errors_name_the_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    data: dict[str, Any] = {
        "nodes": {"first": {"kind": "ollama", "base_url": "http://127.0.0.1:9"}},
        "models": {"first-embed": {"node": "first", "model": "e", "embedding": True},
                   "first-chat": {"node": "first", "model": "c"}},
        "routes": {"embed": ["first-embed"], "chat": ["first-chat"]},
    }
    for section, value in change.items():
        data[section] = {**data[section], **value}
    config = tmp_path / "homecrew.yaml"
    config.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as raised:
        load_model(InferenceSettings, config, environ={})
    assert str(config) in str(raised.value)
    assert message in str(raised.value)


async def test_without_a_token_count_the_tokens_are_estimated(tmp_path: Path) -> None:
    body = '{"data": [{"index": 0, "embedding": [0.6, 0.8]}]}'  # no usage: some servers
    async with (
        OpenAIStandin(script=Script.http_error(200, body=body.encode())) as node,
        stack_of(embed_settings(tmp_path, url_of(node))) as stack,
    ):
        result = await stack.embed(ask("x" * 40))
        await stack.ledger.flush()
        (row,) = await (await stack.database()).fetch("SELECT * FROM ledger")
    assert result.vectors == ((0.6, 0.8),)
    assert result.prompt_tokens == 10
    assert (row["prompt_tokens"], bool(row["tokens_estimated"])) == (10, True)
