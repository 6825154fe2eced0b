"""Trimming a conversation to the context budget of a route.

The token estimate is :func:`inference.tokens.estimate_tokens` (about four characters a
token, plus a few tokens of framing per message), the one the gateway's token counting
uses too; it is re-exported here for the team's callers.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference.config import InferenceSettings
from inference.tokens import MESSAGE_OVERHEAD, estimate_tokens
from inference.types import Message

__all__ = ["MESSAGE_OVERHEAD", "context_window", "estimate_tokens", "trim_to_budget"]


def context_window(settings: InferenceSettings, route: str, default: int) -> int:
    """The smallest ``context_window`` among the route's models (``default`` when unset)."""
    windows = [
        settings.models[alias].context_window or default
        for alias in settings.routes.get(route, ())
    ]
    return min(windows, default=default)


def trim_to_budget(messages: Sequence[Message], budget: int) -> list[Message]:
    """The newest messages that fit ``budget`` tokens, oldest first.

    The last message (the one being answered) is always kept; when it alone is too big,
    its beginning is cut.
    """
    if not messages:
        return []
    last = messages[-1]
    room = budget - estimate_tokens(last.content)
    if room < 0:
        keep_chars = max(0, (budget - MESSAGE_OVERHEAD) * 4)
        return [Message(last.role, "…" + last.content[-keep_chars:] if keep_chars else "…")]
    kept: list[Message] = [last]
    for message in reversed(messages[:-1]):
        cost = estimate_tokens(message.content)
        if cost > room:
            break
        kept.append(message)
        room -= cost
    kept.reverse()
    return kept
