"""The same-channel burst of ``bench/bot.py``: 30 messages in one agent channel at once.

Each message asks a numbered question; the stand-in node answers each with its own text
(:func:`node_answer`), so every reply can be checked against the message it answers (the
reference line each answer in a busy channel starts with: ``bot.references``).

Figure: *first visible* — the MESSAGE_CREATE written to the bot's socket → the first post
of its answer (the node's 200 ms time to first token included); p50/p99, targets ≤ 500 ms
and ≤ 1,000 ms.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

BURST_CHANNEL = "gonzo"
BURST = 30
_ASKED = re.compile(r"burst #(\d+)")
_LINE = re.compile(r"^-# ↪ <@\d+> · https://discord\.com/channels/\d+/\d+/(\d+)\n")


def question(index: int) -> str:
    return f"burst #{index}: what about item {index}?"


def expected(index: int) -> str:
    return f"Answer {index}: " + "streamed words " * 30


def node_answer(default: str) -> Any:
    """The node's answer to a request's last message: numbered for a burst question."""

    def answer(text: str) -> str:
        match = _ASKED.search(text)
        return default if match is None else expected(int(match.group(1)))

    return answer


# -- in the Discord stand-in's process ---------------------------------------------------------
async def post(discord: Any) -> tuple[int, list[int]]:
    """Post the burst at once; the recorder mark before it and the message ids in order."""
    mark = discord.mark()
    sent = await asyncio.gather(*(discord.user_message(BURST_CHANNEL, "alice", question(i))
                                  for i in range(BURST)))
    return mark, [m.id for m in sent]


def _answers(discord: Any) -> dict[int, list[str]]:
    """The bodies of the answers in the channel, by the message each says it answers."""
    found: dict[int, list[str]] = {}
    for message in discord.channel_view(BURST_CHANNEL):
        match = _LINE.match(message.content) if message.webhook_id is not None else None
        if match is not None:
            found.setdefault(int(match.group(1)), []).append(message.content[match.end():])
    return found


def correct(discord: Any, ids: list[int]) -> int:
    """How many burst messages have exactly one answer, complete and right."""
    answers = _answers(discord)
    return sum(1 for index, message_id in enumerate(ids)
               if answers.get(message_id) == [expected(index)])


def report(discord: Any, mark: int, ids: list[int]) -> dict[str, Any]:
    """When each MESSAGE_CREATE went down the bot's socket, and its answer's first post."""
    from tests.support.discord_standin import DispatchSent, SentMessage

    wanted = set(ids)
    arrived: dict[int, float] = {}
    for event in discord.events(DispatchSent, since=mark):
        message_id = int(event.data.get("id", 0)) if event.event == "MESSAGE_CREATE" else 0
        if message_id in wanted and not event.replay:
            arrived.setdefault(message_id, event.at)
    first: dict[int, float] = {}
    for sent in discord.events(SentMessage, since=mark):
        match = _LINE.match(sent.content) if sent.webhook_id is not None else None
        if match is not None:
            first.setdefault(int(match.group(1)), sent.at)
    return {"arrived": arrived, "first": first}


# -- in the bot's process ------------------------------------------------------------------------
async def run_burst(bot: Any, remote: Any, poll: Any) -> dict[str, Any]:
    mark, ids = await remote.ask("burst", None)

    async def all_done() -> bool:
        return bool(await remote.ask("burst_done", ids) == len(ids))

    await poll(all_done, 0.1, 90.0)
    async with asyncio.timeout(30):
        await bot.ctx.tracker.wait_idle()
    found = await remote.ask("burst_report", (mark, ids))
    visible = [found["first"][i] - found["arrived"][i] for i in ids
               if i in found["first"] and i in found["arrived"]]
    return {"visible": visible, "completed": await remote.ask("burst_done", ids),
            "count": len(ids)}
