"""The start-up heap is frozen while a long-running process runs, and given back after."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from homecrew.heap import frozen_start_up
from tests.support.bot_harness import homecrew_world


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_start_up_garbage_is_collected_and_the_rest_frozen_until_the_end() -> None:
    kept = [_Node() for _ in range(1000)]
    garbage = _Node()
    garbage.other = _Node()
    garbage.other.other = garbage  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    assert gc.get_freeze_count() == 0
    with frozen_start_up():
        assert gone() is None, "start-up's garbage is collected, not frozen"
        assert gc.get_freeze_count() >= len(kept)
        made_later = _Node()
        assert gc.is_tracked(made_later)
        gc.collect()  # a full collection now leaves the frozen objects alone
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_freeze_count() == 0
    assert all(isinstance(node, _Node) for node in kept)


def test_the_end_of_the_block_unfreezes_even_on_error() -> None:
    try:
        with frozen_start_up():
            raise KeyError("boom")
    except KeyError:
        pass
    assert gc.get_freeze_count() == 0


@pytest.mark.timeout(60)
async def test_a_running_bot_keeps_its_start_up_frozen_and_gives_it_back(
    tmp_path: Path,
) -> None:
    async with homecrew_world(tmp_path) as world:
        assert gc.get_freeze_count() > 10_000, "imports, settings and the stack are frozen"
        replies = await world.converse("nellie", "hello")
        assert [m.author_name for m in replies] == ["Nellie"]
    assert gc.get_freeze_count() == 0
