"""Key budgets: past a key's monthly_usd its cloud steps are skipped, local ones still
answer; the spend is shared by the replicas through Redis and seeded once from the ledger."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from gateway.gate import KeyGate, open_key_gate
from gateway.keys import KeyStore
from inference.config import InferenceSettings, LedgerConfig
from inference.errors import AllStepsFailed
from inference.ledger import Ledger
from inference.records import LedgerRecord
from inference.runtime import InferenceStack
from inference.types import ChatRequest, EmbedRequest, Message
from store import Database, open_database
from tests.gateway.gate_settings import GateSettings
from tests.support.stack import make_settings
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin, Script

# claude-sonnet-4-5: $3 / $15 per million tokens -> 1000 + 1000 tokens = $0.018 a call
CALL_USD = 1000 * 3e-6 + 1000 * 15e-6
ROUTES = ("cloud-first", "cloud-only")


def ask(key_name: str, route: str = "cloud-first") -> ChatRequest:
    return ChatRequest(route=route, messages=[Message("user", "hi")], key_name=key_name,
                       use_cache=False)


def chain_settings(claude_url: str, ollama_url: str, data_dir: Path) -> InferenceSettings:
    return make_settings(
        nodes={"ollama": {"kind": "ollama", "base_url": ollama_url},
               "anthropic": {"kind": "anthropic", "base_url": claude_url, "api_key": "k"}},
        models={"llama": {"node": "ollama", "model": "llama3.2"},
                "claude-sonnet": {"node": "anthropic", "model": "claude-sonnet-4-5"}},
        routes={"cloud-first": ["claude-sonnet", "llama"], "cloud-only": ["claude-sonnet"]},
        data_dir=data_dir,
        timeouts={"first_token": 10, "total": 20},  # LiteLLM's first call imports a lot
    )


@asynccontextmanager
async def replica(settings: InferenceSettings, gate_settings: GateSettings, db: Database
                  ) -> AsyncIterator[tuple[KeyGate, InferenceStack]]:
    """One gateway replica's key gate and chain, wired as the composition root does."""
    async with AsyncExitStack() as stack:
        gate = await stack.enter_async_context(open_key_gate(gate_settings, db))
        chain = await stack.enter_async_context(
            InferenceStack.open(settings, probes=False, step_layers=[gate.budget_layer]))
        chain.sink.add(gate.spend)
        yield gate, chain


async def test_over_budget_cloud_steps_are_skipped_on_every_replica_local_still_answers(
    pg_db: Database, redis_url: str, tmp_path: Path,
) -> None:
    store = await KeyStore.open(pg_db)
    await store.create("alice", known_routes=ROUTES, monthly_usd=CALL_USD * 2 - 1e-9)
    await store.create("bob", known_routes=ROUTES)
    gate_settings = GateSettings.with_redis(redis_url)
    async with (
        OllamaStandin(script=Script(reply="local answer")) as ollama,
        AnthropicStandin(script=Script(reply="cloud answer", prompt_tokens=1000,
                                       completion_tokens=1000)) as claude,
    ):
        settings = chain_settings(claude.base_url, ollama.base_url, tmp_path)
        async with (replica(settings, gate_settings, pg_db) as (gate1, one),
                    replica(settings, gate_settings, pg_db) as (gate2, two)):
            assert (await one.complete(ask("alice"))).node == "anthropic"
            await gate1.spend.settled()
            assert (await two.complete(ask("alice"))).node == "anthropic"
            await gate2.spend.settled()
            # Each replica served one call (under the limit); together they are over it.
            for chain in (one, two):
                done = await chain.complete(ask("alice"))
                assert (done.node, done.text) == ("ollama", "local answer")
                assert "'alice''s monthly cloud budget reached" in done.notices[0]
                with pytest.raises(AllStepsFailed, match="monthly cloud budget reached"):
                    await chain.complete(ask("alice", "cloud-only"))
            assert len(claude.requests_to("/v1/messages")) == 2
            for chain in (one, two):  # another key's budget is its own
                assert (await chain.complete(ask("bob"))).node == "anthropic"
            assert await gate1.spend.spent("alice") == pytest.approx(CALL_USD * 2)
            assert await gate1.spend.spent("bob") == pytest.approx(CALL_USD * 2)
            assert await gate1.spend.exceeded("bob") is None  # counted, never limited


async def test_spend_is_seeded_once_from_the_ledger(
    pg_db: Database, pg_database_url: str, redis_url: str, tmp_path: Path,
) -> None:
    async def opener() -> Database:  # the ledger's own connection (it closes it)
        return await open_database(pg_database_url, tmp_path)

    now = time.time()
    config = LedgerConfig(database_url=pg_database_url)
    async with Ledger(opener, config, tmp_path / "outbox.sqlite3") as ledger:
        for key_name, usd, cloud in (("alice", 1.5, True), ("alice", 2.0, True),
                                     ("alice", 9.0, False), ("bob", 0.25, True),
                                     (None, 7.0, True)):
            ledger.record(LedgerRecord(ts=now - 5, route="r", node="n", model="m",
                                       upstream_model="u", key_name=key_name, cloud=cloud,
                                       cost_usd=usd))
        ledger.record(LedgerRecord(ts=now - 40 * 86400, route="r", node="n", model="m",
                                   upstream_model="u", key_name="alice", cloud=True,
                                   cost_usd=100.0))  # another month
        await ledger.flush()
    store = await KeyStore.open(pg_db)
    await store.create("alice", known_routes=ROUTES, monthly_usd=4)
    settings = GateSettings.with_redis(redis_url)
    async with open_key_gate(settings, pg_db) as one, open_key_gate(settings, pg_db) as two:
        for gate in (one, two):  # the second replica's seed did not add the ledger again
            assert await gate.spend.spent("alice") == pytest.approx(3.5)
            assert await gate.spend.spent("bob") == pytest.approx(0.25)
            assert await gate.spend.exceeded("alice") is None
        one.spend.record(LedgerRecord(ts=time.time(), route="r", node="n", model="m",
                                      upstream_model="u", key_name="alice", cloud=True,
                                      cost_usd=0.5))
        await one.spend.settled()
        assert await two.spend.spent("alice") == pytest.approx(4.0)
        assert "'alice''s monthly cloud budget reached ($4.00 of $4.00)" in str(
            await two.spend.exceeded("alice"))


async def test_without_redis_the_budget_holds_per_replica(
    db: Database, tmp_path: Path,
) -> None:
    store = await KeyStore.open(db)
    await store.create("alice", known_routes=ROUTES, monthly_usd=CALL_USD - 1e-9)
    async with (
        OllamaStandin(script=Script(reply="local answer")) as ollama,
        AnthropicStandin(script=Script(reply="cloud answer", prompt_tokens=1000,
                                       completion_tokens=1000)) as claude,
    ):
        settings = chain_settings(claude.base_url, ollama.base_url, tmp_path)
        async with replica(settings, GateSettings(), db) as (_, chain):
            assert [(await chain.complete(ask("alice"))).node for _ in range(3)] == [
                "anthropic", "ollama", "ollama"]
    assert len(claude.requests_to("/v1/messages")) == 1


async def test_over_budget_cloud_embedding_steps_are_skipped_local_still_answers(
    pg_db: Database, redis_url: str, tmp_path: Path,
) -> None:
    store = await KeyStore.open(pg_db)
    # text-embedding-3-small at $0.02 per million tokens: 1000 tokens = $0.00002 a call
    await store.create("alice", known_routes=("vectors",), monthly_usd=0.00002 - 1e-12)
    async with (
        OpenAIStandin(script=Script(prompt_tokens=1000)) as cloud,
        OllamaStandin(models=["nomic-embed-text"]) as ollama,
    ):
        settings = make_settings(
            nodes={"openai": {"kind": "openai", "base_url": f"{cloud.base_url}/v1",
                              "cloud": True, "api_key": "sk-k"},
                   "ollama": {"kind": "ollama", "base_url": ollama.base_url}},
            models={"small": {"node": "openai", "model": "text-embedding-3-small",
                              "embedding": True,
                              "price": {"input_per_mtok": 0.02, "output_per_mtok": 0}},
                    "nomic": {"node": "ollama", "model": "nomic-embed-text",
                              "embedding": True}},
            routes={"vectors": ["small", "nomic"]}, data_dir=tmp_path)
        async with AsyncExitStack() as stack:
            gate = await stack.enter_async_context(
                open_key_gate(GateSettings.with_redis(redis_url), pg_db))
            chain = await stack.enter_async_context(InferenceStack.open(
                settings, probes=False, step_layers=[gate.budget_layer],
                embed_layers=[gate.embed_budget_layer]))
            chain.sink.add(gate.spend)
            ask = EmbedRequest(route="vectors", inputs=["hi"], key_name="alice")
            assert (await chain.embed(ask)).node == "openai"
            await gate.spend.settled()
            result = await chain.embed(ask)
            assert result.node == "ollama"
            assert "'alice''s monthly cloud budget reached" in result.fell_back_from[0]
            assert await gate.spend.spent("alice") == pytest.approx(0.00002)
    assert len(cloud.requests_to("/v1/embeddings")) == 1
