"""What the bot says around a reply: footers, notices, apologies and refusals.

Nothing here calls a model, so these words still come when every node is down. Reasons are
shortened (at a word, brackets closed) and never include a stack trace. An apology in the
channel says in plain words what is wrong and when to ask again; which node failed, at
what address, with which error, goes to the log and ``/status`` only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from inference.types import ReplyDone
from personas.schema import Persona
from team.events import ReplyFinished

__all__ = [
    "apology",
    "closing_text",
    "footer",
    "notices",
    "plain_reason",
    "record_closing",
    "refusal",
]

log = logging.getLogger(__name__)
_ROUTE_FAILED = re.compile(r"^every step of route '([^']+)' failed: (.*)$", re.DOTALL)
_MAX_REASON = 300
_SLOW = ("timeout", "timed out", "too long", "first token")
_BUDGET = re.compile(r"[^:;\n]*\bbudget (?:reached|spent)[^;\n]*")


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word, brackets left open closed again."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 2]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    cut = cut.rstrip(" ,;:.-—(")
    unclosed = max(0, cut.count("(") - cut.count(")"))
    closing = ")" * unclosed
    while unclosed and len(cut) + 1 + len(closing) > limit:
        cut = cut[:-1]
    return f"{cut}…{closing}"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def plain_reason(reason: str | None) -> str:
    """A one-line reason a person can read (no traceback, bounded length)."""
    if not reason:
        return "no reason given"
    text = reason.strip().splitlines()[0] if reason.strip() else "no reason given"
    match = _ROUTE_FAILED.match(text)
    if match:
        text = f"no model node answered on the {match.group(1)} route ({match.group(2)})"
    return _shorten(text, _MAX_REASON)


def apology(persona: Persona, reason: str | None) -> str:
    """The in-character line when no node could answer. Of ``reason`` only a spent budget
    is shown (the people asking can act on it); nodes, addresses and errors are not."""
    text = reason or ""
    budget = _BUDGET.search(text)
    if budget is not None:
        what = f"{_shorten(budget.group(0).strip(), 120)}, and no local model is answering"
    elif any(word in text.lower() for word in _SLOW):
        what = "my model is taking too long to answer"
    else:
        what = "I can't reach my model servers"
    return (f"Sorry — {persona.display_name} can't answer right now: {what}. "
            "Please ask again in a minute or two (`/status` shows what's down).")


def refusal(persona: Persona, reason: str | None) -> str:
    return _sentence(f"{persona.display_name} can't take this on right now: "
                     f"{plain_reason(reason)}")


def notices(calls: Sequence[ReplyDone]) -> list[str]:
    seen: dict[str, None] = {}
    for call in calls:
        for notice in call.notices:
            seen.setdefault(notice, None)
    return list(seen)


def footer(done: ReplyDone | None, calls: Sequence[ReplyDone] = ()) -> str:
    """``-# mlx · mlx-qwen · 1.4 s · $0.0000 · cached · fell back to ollama``."""
    done = done or (calls[-1] if calls else None)
    if done is None:
        return ""
    elapsed = sum(c.latency_s for c in calls) or done.latency_s
    cost = sum(c.cost_usd for c in calls) if calls else done.cost_usd
    parts = [done.node, done.model, f"{elapsed:.1f} s", f"${cost:.4f}"]
    if done.cached:
        parts.append("cached")
    if done.fallback_depth > 0 or done.fell_back_from:
        parts.append(f"fell back to {done.node}")
    return "-# " + " · ".join(parts)


def closing_text(
    persona: Persona, status: str, text: str, reason: str | None, *,
    calls: Sequence[ReplyDone] = (), footer_line: str = "",
) -> str:
    """What follows the streamed text: status notes, notices, and the footer when given."""
    lines: list[str] = []
    if status == "failed":
        lines.append(apology(persona, reason))
    elif status == "refused":
        lines.append(refusal(persona, reason))
    elif status == "cancelled":
        lines.append(f"_(stopped: {plain_reason(reason)})_")
    elif status == "halted":
        lines.append(f"_(halted: {plain_reason(reason)})_")
    elif not text.strip():
        lines.append("_(no answer)_")
    lines.extend(f"_⚠ {n}_" for n in notices(calls))
    if footer_line:
        lines.append(footer_line)
    return "\n\n" + "\n".join(lines) if lines else ""


def record_closing(persona: Persona, record: ReplyFinished, *, with_footer: bool) -> str:
    if record.status == "failed":  # the channel gets the apology; the log gets the why
        log.warning("%s could not answer: %s", persona.name, record.reason)
    return closing_text(persona, record.status, record.text, record.reason, calls=record.calls,
                        footer_line=footer(record.done, record.calls) if with_footer else "")
