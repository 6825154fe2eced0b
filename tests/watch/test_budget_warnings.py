"""Chief's budget warnings: a budget crossed mid-conversation keeps the agent answering from
local nodes and produces exactly one 80 % and one 100 % warning in #alerts and #chief."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.errors import AllStepsFailed
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin, Script
from tests.watch.helpers import Clock, RecordingPoster, make_settings
from watch.engine import Watch

CALL_USD = 1000 * 3e-6 + 1000 * 15e-6  # claude-sonnet-4-5 at $3 / $15 per million tokens


def gonzo(text: str) -> ChatRequest:
    return ChatRequest(route="gonzo-backend", messages=[Message("user", text)], agent="gonzo",
                       use_cache=False)


async def test_one_warning_at_80_and_one_at_100_percent(
    tmp_path: Path, mlx: OpenAIStandin,
) -> None:
    async with (
        OllamaStandin(models=["qwen2.5:14b", "qwen2.5-coder:14b"],
                      script=Script.http_error(503)) as ollama,
        AnthropicStandin(script=Script(reply="from claude", prompt_tokens=1000,
                                       completion_tokens=1000)) as claude,
    ):
        settings = make_settings(
            mlx_url=mlx.base_url, ollama_url=ollama.base_url, anthropic_url=claude.base_url,
            data_dir=tmp_path, health={"failure_threshold": 100},
            budgets={"agents": {"gonzo": {"daily_usd": CALL_USD * 5 - 1e-9}},
                     "team": {"monthly_usd": 100}},
        )
        clock, poster = Clock(), RecordingPoster()
        async with (
            InferenceStack.open(settings, probes=False) as stack,
            Watch.open(settings, settings.watch, stack=stack, poster=poster, clock=clock,
                       schedule=False) as watch,
        ):
            served = []
            for i in range(5):
                served.append((await stack.complete(gonzo(f"q{i}"))).node)
                await watch.drain()
                if i == 3:
                    assert poster.kinds("alerts") == ["budget"], "80 % after the 4th call"
            assert served == ["anthropic"] * 5
            with pytest.raises(AllStepsFailed, match="gonzo's daily cloud budget reached"):
                await stack.complete(gonzo("one more"))
            ollama.script = Script(reply="local answer")
            for i in range(3):
                done = await stack.complete(gonzo(f"after {i}"))
                assert (done.node, done.text) == ("ollama", "local answer")
            await watch.drain()
    for channel in ("alerts", "chief"):
        assert poster.kinds(channel) == ["budget", "budget"]
    warn, reached = poster.messages("alerts")
    assert warn.title == "💸 BUDGET WARNING: gonzo's daily cloud budget at 80%"
    assert warn.severity == "warning"
    assert warn.lines[0].startswith(f"Spent: ${CALL_USD * 4:.2f} of ${CALL_USD * 5:.2f}")
    assert reached.title == "💸 BUDGET REACHED: gonzo's daily cloud budget"
    assert reached.severity == "critical"
    assert reached.lines[1] == "Cloud steps are skipped until the period ends: local models only."
