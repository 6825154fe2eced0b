"""What the bot says around a reply: notices, footers, apologies (no model involved)."""

from __future__ import annotations

from bot.wording import apology, footer, plain_reason, record_closing, refusal
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


def test_a_failed_route_becomes_a_plain_in_character_apology() -> None:
    error = AllStepsFailed("nellie-research", [
        StepFailure("ollama-qwen", "ollama", "connection refused", "unavailable"),
        StepFailure("kimi-k2.5", "kimi", "ConnectError: 10.0.0.7:11434 refused (111)",
                    "unavailable")])
    nellie = load_roster().get("nellie")
    text = apology(nellie, f"{error}\nTraceback (most recent call last): ...")
    assert text == ("Sorry — Nellie can't answer right now: I can't reach my model servers. "
                    "Please ask again in a minute or two (`/status` shows what's down).")
    slow = apology(nellie, "every step of route 'nellie-research' failed: ollama-qwen@ollama: "
                           "no first token within 3s")
    assert "my model is taking too long to answer" in slow and "3s" not in slow


def test_shortened_reasons_end_at_a_word_with_brackets_closed() -> None:
    assert plain_reason("x" * 1000).endswith("…") and len(plain_reason("x" * 1000)) <= 300
    long = ("every step of route 'smart-agent' failed: mlx-qwen@mlx: Connect call failed "
            + "('192.168.1.20', 8080); " * 30)
    short = plain_reason(long)
    assert len(short) <= 300
    assert short.count("(") == short.count(")")
    assert not short.endswith("….") and "…." not in short
    cut = plain_reason("word " * 100)
    assert cut.endswith("word…")
    said = refusal(load_roster().get("nellie"), long)
    assert "…." not in said and said.count("(") == said.count(")")
    assert footer(None) == ""


def test_a_spent_budget_is_said_but_not_the_nodes() -> None:
    gonzo = load_roster().get("gonzo")
    text = apology(gonzo, "every step of route 'gonzo-backend' failed: gonzo-local@gonzo-node: "
                          "skipped: circuit open (probe failed: connection refused); "
                          "cloud-sonnet@cloud: gonzo's monthly cloud budget reached ($0.09 of "
                          "$0.09); local models only")
    assert text.startswith("Sorry — Gonzo can't answer right now: gonzo's monthly cloud budget "
                           "reached ($0.09 of $0.09), and no local model is answering.")
    assert "gonzo-node" not in text and "refused" not in text and "cloud-sonnet" not in text
