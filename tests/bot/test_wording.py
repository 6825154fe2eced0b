"""What the bot says around a reply: notices, footers, apologies (no model involved)."""

from __future__ import annotations

from bot.wording import apology, footer, plain_reason, record_closing
from inference.errors import AllStepsFailed, StepFailure
from inference.types import ReplyDone
from personas.loader import load_roster
from team.events import ReplyFinished


def _done(**overrides: object) -> ReplyDone:
    base: dict[str, object] = dict(
        route="smart-agent", node="ollama", model="ollama-qwen", upstream_model="qwen2.5:14b",
        prompt_tokens=10, completion_tokens=5, cost_usd=0.0, latency_s=1.24, ttft_s=0.3,
        fallback_depth=1, fell_back_from=("claude-sonnet (budget: daily cloud budget spent)",),
        notices=("the team's daily cloud budget is spent: answering from local models",))
    base.update(overrides)
    return ReplyDone(**base)  # type: ignore[arg-type]


def test_a_budget_notice_and_the_footer_close_the_reply() -> None:
    skip = load_roster().get("skip")
    record = ReplyFinished("c", "skip", "t", "complete", "Hello.", done=_done(),
                           calls=(_done(),))
    closing = record_closing(skip, record, with_footer=True)
    assert closing == (
        "\n\n_⚠ the team's daily cloud budget is spent: answering from local models_\n"
        "-# ollama · ollama-qwen · 1.2 s · $0.0000 · fell back to ollama")
    assert record_closing(skip, record, with_footer=False).count("\n") == 2


def test_a_failed_route_becomes_a_short_in_character_apology() -> None:
    error = AllStepsFailed("nellie-research", [
        StepFailure("ollama-qwen", "ollama", "connection refused", "unavailable"),
        StepFailure("kimi-k2.5", "kimi", "timeout after 10s", "timeout")])
    nellie = load_roster().get("nellie")
    text = apology(nellie, f"{error}\nTraceback (most recent call last): ...")
    assert text == ("Sorry — Nellie can't answer right now: no model node answered on the "
                    "nellie-research route (ollama-qwen@ollama: connection refused; "
                    "kimi-k2.5@kimi: timeout after 10s). Give me a minute and ask again "
                    "(or try `/status`).")
    assert plain_reason("x" * 1000).endswith("…") and len(plain_reason("x" * 1000)) == 300
    assert footer(None) == ""
