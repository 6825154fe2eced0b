"""Small helpers shared by the team tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from team.events import ReplyEvent, ReplyFinished, StepDelta, TextDelta
from team.replies import ReplyHandle
from tests.support.standins import OpenAIStandin

__all__ = ["chat_bodies", "drain", "first_text", "plan_json", "system_of", "texts"]


async def drain(handle: ReplyHandle) -> tuple[list[ReplyEvent], ReplyFinished]:
    """Every event of the reply; the last one is its record."""
    async with asyncio.timeout(20):
        events = [event async for event in handle]
    record = events[-1]
    assert isinstance(record, ReplyFinished)
    return events, record


async def first_text(handle: ReplyHandle) -> list[ReplyEvent]:
    """Consume events up to the first text delta (of the reply or of a sub-task)."""
    seen: list[ReplyEvent] = []
    async with asyncio.timeout(20):
        async for event in handle:
            seen.append(event)
            if isinstance(event, TextDelta | StepDelta | ReplyFinished):
                return seen
    return seen


def chat_bodies(node: OpenAIStandin) -> list[dict[str, Any]]:
    return [r.body for r in node.requests_to("/v1/chat/completions")]


def system_of(body: dict[str, Any]) -> str:
    first = body["messages"][0]
    assert first["role"] == "system"
    return str(first["content"])


def plan_json(*steps: tuple[str, str], note: str = "") -> str:
    return json.dumps({"steps": [{"agent": a, "task": t} for a, t in steps], "note": note})


def texts(events: Sequence[ReplyEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))
