"""The task feed: task changes read from the audit log after a cursor, whichever process
wrote them, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest

from homecrew.settings import Settings
from store import open_database
from team.actors import Actor
from team.board import TaskBoard
from team.engine import TeamEngine
from team.errors import Refused
from team.feed import TaskChange, TaskFeed, audit_head
from team.halt import HaltSwitch
from watch.gate_data import ManualChiefCheck

ANA = Actor.person("ana")


def _seen(changes: list[TaskChange]) -> list[tuple[int, str, str]]:
    return [(c.task_id, c.action, c.actor) for c in changes]


async def test_the_feed_starts_at_the_end_and_yields_each_change_once(
    engine: TeamEngine,
) -> None:
    board = engine.board
    old = await board.create(ANA, kind="feature", owner="gonzo", title="Before the feed")
    feed = TaskFeed(board.db, interval=0.05)
    start = await feed.start()
    assert start == await audit_head(board.db) > 0
    assert await feed.poll() == []  # history is not replayed

    task = await board.create(ANA, kind="feature", owner="gonzo", title="Model switcher")
    await board.attach(ANA, task.id, "contract", json.dumps({"name": "string"}))
    with pytest.raises(Refused):  # a refusal is logged ("request") but changes nothing
        await board.sign(ANA, old.id, signer="nellie", topic="contract")
    await board.sign(Actor.agent("gonzo"), task.id, signer="gonzo", topic="contract")

    changes = await feed.poll()
    assert _seen(changes) == [(task.id, "task_created", "@ana"), (task.id, "artifact", "@ana"),
                              (task.id, "signoff", "gonzo")]
    ids = [c.audit_id for c in changes]
    assert ids == sorted(ids) and ids[0] > start
    assert feed.cursor == await audit_head(board.db)  # the refusal was read past
    assert await feed.poll() == []


async def test_changes_from_another_process_arrive_through_the_iterator(
    engine: TeamEngine, settings: Settings,
) -> None:
    feed = TaskFeed(engine.board.db, interval=0.02)
    await feed.start()
    other = await open_database(settings.ledger.database_url, settings.data_dir)
    try:
        cli = TaskBoard(other, engine.roster, engine.policy, HaltSwitch(other),
                        ManualChiefCheck())
        task = await cli.create(ANA, kind="research", owner="nellie", title="MLX vs llama.cpp")
        await cli.request(ANA, task.id, "cancelled")
        got: list[TaskChange] = []
        async with asyncio.timeout(10):
            async for change in feed:
                got.append(change)
                if change.action == "transition":
                    break
    finally:
        await other.close()
    assert _seen(got) == [(task.id, "task_created", "@ana"), (task.id, "transition", "@ana")]


async def test_a_given_cursor_replays_and_a_backlog_comes_page_by_page(
    engine: TeamEngine,
) -> None:
    board = engine.board
    made = [await board.create(ANA, kind="script", owner="jax", title=f"Episode {n}")
            for n in range(1, 6)]
    feed = TaskFeed(board.db, interval=30, after=0, page=2)
    batches: list[list[TaskChange]] = []
    async with asyncio.timeout(10):  # a backlog is read without waiting the interval
        async for batch in feed.batches():
            batches.append(batch)
            if sum(map(len, batches)) == len(made):
                break
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [c.task_id for b in batches for c in b] == [t.id for t in made]
    assert not feed.backlog


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TaskFeed(object(), interval=0)  # type: ignore[arg-type]
