"""``POST /v1/embeddings`` with the official ``openai`` SDK (sync and async, float and
base64) against the gateway over Ollama and OpenAI-compatible stand-ins: routes and
aliases, fall-back, ``dimensions``, the key's scope, errors and the ledger."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway.access import Gatekeeper, Grant
from inference.errors import StoreError
from tests.gateway.conftest import NELLIE
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, OpenAIStandin, Script, refused_url
from tests.support.standins.embedding import embedding_of

TEXTS = ["the cat sat on the mat", "a local-first homelab"]


def settings_for(tmp_path: Path, ollama_url: str, mlx_url: str) -> Any:
    """The seed's chat route plus an ``embeddings`` route: Ollama, then the MLX box."""
    return make_settings(
        nodes={"mlx": {"kind": "openai", "base_url": mlx_url},
               "ollama": {"kind": "ollama", "base_url": ollama_url}},
        models={"mlx-qwen": {"node": "mlx", "model": "mlx-community/Qwen2.5-14B-Instruct-4bit"},
                "ollama-qwen": {"node": "ollama", "model": "qwen2.5:14b"},
                "ollama-embed": {"node": "ollama", "model": "nomic-embed-text",
                                 "embedding": True},
                "mlx-embed": {"node": "mlx", "model": "bge-small-en", "embedding": True}},
        routes={"smart-agent": ["mlx-qwen", "ollama-qwen"],
                "embeddings": ["ollama-embed", "mlx-embed"]},
        data_dir=tmp_path)


class ScopedGate:
    """Admits everyone as the key ``editor``, scoped to ``smart-agent``."""

    async def admit(self, headers: Mapping[str, str]) -> Grant:
        return Grant("editor", frozenset({"smart-agent"}))


@asynccontextmanager
async def gateway_over(tmp_path: Path, ollama: OllamaStandin, mlx: OpenAIStandin, *,
                       ollama_url: str | None = None, gate: Gatekeeper | None = None
                       ) -> AsyncIterator[RunningGateway]:
    settings = settings_for(tmp_path, ollama_url or ollama.base_url, f"{mlx.base_url}/v1")
    async with running_gateway(settings, agents=[NELLIE], gate=gate) as gw:
        yield gw


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[OllamaStandin, OpenAIStandin]]:
    async with (
        OllamaStandin(models=["nomic-embed-text", "qwen2.5:14b"]) as ollama,
        OpenAIStandin(script=Script(reply="from mlx")) as mlx,
    ):
        yield ollama, mlx


@pytest.fixture
async def gw(tmp_path: Path, nodes: tuple[OllamaStandin, OpenAIStandin]
             ) -> AsyncIterator[RunningGateway]:
    async with gateway_over(tmp_path, *nodes) as running:
        yield running


def sync_client(gw: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0)


def async_client(gw: RunningGateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.v1, api_key="unused", max_retries=0)


def expected(*texts: str, dimensions: int | None = None) -> list[list[float]]:
    return [embedding_of(t, dimensions=dimensions) for t in texts]


def same_vectors(got: list[list[float]], wanted: list[list[float]]) -> bool:
    return len(got) == len(wanted) and all(
        g == pytest.approx(w, rel=1e-6) for g, w in zip(got, wanted, strict=True))


async def test_sync_sdk_gets_float_vectors_from_the_first_step(
    gw: RunningGateway, nodes: tuple[OllamaStandin, OpenAIStandin]
) -> None:
    ollama, _ = nodes
    answer = await asyncio.to_thread(sync_client(gw).embeddings.create, model="embeddings",
                                     input=TEXTS, encoding_format="float")
    assert answer.object == "list"
    assert answer.model == "embeddings"
    assert [d.index for d in answer.data] == [0, 1]
    assert all(d.object == "embedding" for d in answer.data)
    assert same_vectors([d.embedding for d in answer.data], expected(*TEXTS))
    assert answer.usage.prompt_tokens == sum(len(t.split()) for t in TEXTS)
    assert answer.usage.total_tokens == answer.usage.prompt_tokens
    sent = ollama.requests_to("/api/embed")[-1].body
    assert sent == {"model": "nomic-embed-text", "input": TEXTS}


async def test_async_sdk_asks_base64_by_default_and_decodes_it(gw: RunningGateway) -> None:
    raw = await async_client(gw).embeddings.with_raw_response.create(
        model="embeddings", input="one text")
    wire = raw.http_response.json()
    assert isinstance(wire["data"][0]["embedding"], str)  # what went over the wire
    answer = raw.parse()
    assert answer.data[0].embedding == pytest.approx(expected("one text")[0], rel=1e-6)
    assert raw.headers["x-homecrew-node"] == "ollama"


async def test_explicit_base64_is_little_endian_float32(gw: RunningGateway) -> None:
    answer = await asyncio.to_thread(sync_client(gw).embeddings.create, model="embeddings",
                                     input=["x"], encoding_format="base64")
    packed = base64.b64decode(answer.data[0].embedding)  # type: ignore[arg-type]
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == pytest.approx(
        expected("x")[0], rel=1e-6)


async def test_dimensions_reach_the_node(
    gw: RunningGateway, nodes: tuple[OllamaStandin, OpenAIStandin]
) -> None:
    answer = await async_client(gw).embeddings.create(
        model="embeddings", input=TEXTS, dimensions=4, encoding_format="float")
    assert [len(d.embedding) for d in answer.data] == [4, 4]
    assert same_vectors([d.embedding for d in answer.data], expected(*TEXTS, dimensions=4))
    assert nodes[0].requests_to("/api/embed")[-1].body["dimensions"] == 4


async def test_an_embedding_alias_runs_that_one_step(
    gw: RunningGateway, nodes: tuple[OllamaStandin, OpenAIStandin]
) -> None:
    ollama, mlx = nodes
    raw = await async_client(gw).embeddings.with_raw_response.create(
        model="mlx-embed", input="hi", encoding_format="float")
    assert raw.parse().model == "mlx-embed"
    assert raw.headers["x-homecrew-node"] == "mlx"
    assert mlx.requests_to("/v1/embeddings")[-1].body["model"] == "bge-small-en"
    assert ollama.requests_to("/api/embed") == []


@pytest.mark.parametrize("failure", ["refused", "http-500"])
async def test_falls_back_when_the_first_node_fails(
    tmp_path: Path, nodes: tuple[OllamaStandin, OpenAIStandin], failure: str
) -> None:
    ollama, mlx = nodes
    if failure == "http-500":
        ollama.queue(Script.http_error(500, message="llama runner crashed"))
    url = refused_url() if failure == "refused" else None
    async with gateway_over(tmp_path, ollama, mlx, ollama_url=url) as gw:
        raw = await async_client(gw).embeddings.with_raw_response.create(
            model="embeddings", input=TEXTS, encoding_format="float")
    assert raw.headers["x-homecrew-fallback-depth"] == "1"
    assert raw.headers["x-homecrew-node"] == "mlx"
    assert same_vectors([d.embedding for d in raw.parse().data], expected(*TEXTS))


async def test_no_step_answering_is_a_503_listing_each(
    gw: RunningGateway, nodes: tuple[OllamaStandin, OpenAIStandin]
) -> None:
    ollama, mlx = nodes
    ollama.queue(Script.http_error(503))
    mlx.queue(Script.http_error(500, message="metal out of memory"))
    with pytest.raises(openai.InternalServerError) as caught:
        await async_client(gw).embeddings.create(model="embeddings", input="x")
    assert caught.value.status_code == 503
    message = caught.value.message
    assert "ollama-embed@ollama" in message and "mlx-embed@mlx" in message
    assert "metal out of memory" in message


async def test_chat_and_embedding_names_answer_their_own_endpoint_only(
    gw: RunningGateway,
) -> None:
    client = async_client(gw)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.embeddings.create(model="smart-agent", input="x")
    assert caught.value.message.endswith("valid: embeddings, ollama-embed, mlx-embed")
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(
            model="embeddings", messages=[{"role": "user", "content": "hi"}])
    assert "embeddings" not in caught.value.message.split("valid:")[1]
    assert "smart-agent" in caught.value.message
    models = await client.models.list()
    flags = {m.id: (m.model_extra or {})["homecrew"]["embedding"] for m in models.data}
    assert flags["embeddings"] is True and flags["mlx-embed"] is True
    assert flags["smart-agent"] is False and flags["nellie"] is False


async def test_token_arrays_are_a_400_naming_input(gw: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await async_client(gw).embeddings.create(model="embeddings", input=[[1, 2, 3]])
    assert caught.value.body is not None
    assert caught.value.body["param"] == "input"  # type: ignore[index]
    assert "token-id arrays" in caught.value.message


async def test_a_key_scoped_elsewhere_gets_a_403(
    tmp_path: Path, nodes: tuple[OllamaStandin, OpenAIStandin]
) -> None:
    async with gateway_over(tmp_path, *nodes, gate=ScopedGate()) as gw:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await async_client(gw).embeddings.create(model="embeddings", input="x")
    assert "'editor' may not use 'embeddings'" in caught.value.message
    assert nodes[0].requests_to("/api/embed") == []


async def test_the_ledger_records_the_key_name(gw: RunningGateway) -> None:
    await async_client(gw).embeddings.create(model="embeddings", input=TEXTS)
    try:
        assert await gw.stack.ledger.settle(5)
    except StoreError:
        pytest.fail("ledger unreachable")
    db = await gw.stack.database()
    rows = await db.fetch("SELECT key_name, route, node, model, outcome, prompt_tokens "
                          "FROM ledger")
    assert [tuple(r.values()) for r in rows] == [
        ("local", "embeddings", "ollama", "ollama-embed", "ok", 9)]
