"""Cloud budgets: past the limit cloud steps are skipped, local ones never; one warning each."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from inference.budget import BudgetEvent, BudgetKeeper
from inference.config import BudgetConfig, LedgerConfig
from inference.errors import AllStepsFailed
from inference.ledger import Ledger
from inference.records import LedgerRecord
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message
from store import Database, open_database
from tests.support.stack import make_settings
from tests.support.standins import AnthropicStandin, OllamaStandin, Script

# claude-sonnet-4-5: $3 / $15 per million tokens -> 1000 + 1000 tokens = $0.018 a call
CALL_USD = 1000 * 3e-6 + 1000 * 15e-6


def gonzo(text: str) -> ChatRequest:
    return ChatRequest(route="gonzo-backend", messages=[Message("user", text)], agent="gonzo",
                       use_cache=False)


async def test_budget_skips_cloud_keeps_local_and_warns_once(tmp_path: Path) -> None:
    async with (
        OllamaStandin(models=["qwen2.5-coder:14b"], script=Script.http_error(503)) as ollama,
        AnthropicStandin(script=Script(reply="from claude", prompt_tokens=1000,
                                       completion_tokens=1000)) as claude,
    ):
        settings = make_settings(
            nodes={"ollama": {"kind": "ollama", "base_url": ollama.base_url},
                   "anthropic": {"kind": "anthropic", "base_url": claude.base_url,
                                 "api_key": "k"}},
            models={"ollama-coder": {"node": "ollama", "model": "qwen2.5-coder:14b"},
                    "claude-sonnet": {"node": "anthropic", "model": "claude-sonnet-4-5"}},
            routes={"gonzo-backend": ["ollama-coder", "claude-sonnet"]},
            data_dir=tmp_path,
            budgets={"agents": {"gonzo": {"daily_usd": CALL_USD * 5 - 1e-9}}},
            health={"failure_threshold": 100},
        )
        events: list[BudgetEvent] = []
        async with InferenceStack.open(settings, probes=False) as stack:
            stack.budgets.subscribe(events.append)
            served = [(await stack.complete(gonzo(f"q{i}"))).node for i in range(5)]
            assert served == ["anthropic"] * 5
            with pytest.raises(AllStepsFailed, match="gonzo's daily cloud budget reached"):
                await stack.complete(gonzo("one more"))
            calls_before = len(claude.requests_to("/v1/messages"))
            ollama.script = Script(reply="local answer")
            done = await stack.complete(gonzo("after"))
            assert (done.node, done.text) == ("ollama", "local answer")
            ollama.script = Script.http_error(503)
            with pytest.raises(AllStepsFailed):
                await stack.complete(gonzo("still blocked"))
            assert len(claude.requests_to("/v1/messages")) == calls_before
    assert [(e.scope, e.period, e.threshold) for e in events] == [
        ("gonzo", "daily", 0.8), ("gonzo", "daily", 1.0)]


async def test_budget_notice_when_local_answers_after_a_skipped_cloud_step(
    tmp_path: Path,
) -> None:
    async with (
        OllamaStandin(script=Script(reply="local")) as ollama,
        AnthropicStandin(script=Script(reply="cloud")) as claude,
    ):
        settings = make_settings(
            nodes={"ollama": {"kind": "ollama", "base_url": ollama.base_url},
                   "anthropic": {"kind": "anthropic", "base_url": claude.base_url,
                                 "api_key": "k"}},
            models={"llama": {"node": "ollama", "model": "llama3.2"},
                    "claude-haiku": {"node": "anthropic", "model": "claude-haiku-4-5"}},
            routes={"cloud-first": ["claude-haiku", "llama"]},
            data_dir=tmp_path,
            budgets={"team": {"monthly_usd": 0}},
        )
        async with InferenceStack.open(settings, probes=False) as stack:
            done = await stack.complete(ChatRequest(route="cloud-first",
                                                    messages=[Message("user", "hi")]))
    assert done.node == "ollama"
    assert done.notices
    assert "team monthly cloud budget reached" in done.notices[0]
    assert claude.requests_to("/v1/messages") == []


async def test_keeper_is_seeded_from_the_ledger(tmp_path: Path) -> None:
    async def opener() -> Database:
        return await open_database(None, tmp_path)

    now = time.time()
    async with Ledger(opener, LedgerConfig(), tmp_path / "spill.jsonl") as ledger:
        ledger.record(LedgerRecord(ts=now - 5, route="r", node="anthropic", model="m",
                                   upstream_model="u", agent="jax", cloud=True, cost_usd=4.0))
        await ledger.flush()
    db = await opener()
    keeper = BudgetKeeper(BudgetConfig.model_validate({"team": {"daily_usd": 5}}))
    events: list[BudgetEvent] = []
    keeper.subscribe(events.append)
    await keeper.seed(db)
    await db.close()
    assert keeper.exceeded("jax") is None
    assert [(s.scope, s.spent_usd) for s in keeper.status()] == [("team", 4.0)]
    # already past 80 % before the restart: no second 80 % warning, but 100 % still comes
    keeper.record(LedgerRecord(ts=now, route="r", node="anthropic", model="m",
                               upstream_model="u", agent="jax", cloud=True, cost_usd=1.5))
    assert [e.threshold for e in events] == [1.0]
    assert keeper.exceeded("nellie") is not None  # the team budget covers everyone
