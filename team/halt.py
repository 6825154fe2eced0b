"""Chief's halt of the Production Division, shared by every process through the store.

The state lives in one row of ``team_halt``. In this process a change is seen at once;
one made by another process (``homecrew halt`` while the bot runs) is picked up by
:meth:`HaltSwitch.watch`, which polls. Listeners run on every change from off to on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from inference.errors import StoreError
from store import Database

__all__ = ["HaltState", "HaltSwitch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HaltState:
    active: bool = False
    reason: str = ""
    actor: str = ""
    since: float = 0.0
    generation: int = 0

    def describe(self) -> str:
        return f"Production Division halted by {self.actor}: {self.reason}"


class HaltSwitch:
    """The current halt state, a resume event to wait on, and halt listeners."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._state = HaltState()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._listeners: list[Callable[[HaltState], None]] = []

    @property
    def state(self) -> HaltState:
        return self._state

    def on_halt(self, listener: Callable[[HaltState], None]) -> None:
        self._listeners.append(listener)

    async def refresh(self, db: Database | None = None) -> HaltState:
        """Read the stored state (inside a transaction when ``db`` is one)."""
        rows = await (db or self._db).fetch(
            "SELECT active, reason, actor, since, generation FROM team_halt WHERE id = 1"
        )
        if rows:
            row = rows[0]
            self.apply(HaltState(bool(row["active"]), row["reason"], row["actor"],
                                  float(row["since"]), int(row["generation"])))
        return self._state

    async def store(self, tx: Database, *, active: bool, reason: str, actor: str,
                    ts: float) -> HaltState:
        """Write a new state (call inside a team transaction, then :meth:`apply`)."""
        state = HaltState(active, reason, actor, ts, self._state.generation + 1)
        await tx.execute("DELETE FROM team_halt WHERE id = 1")
        await tx.execute(
            "INSERT INTO team_halt (id, active, reason, actor, since, generation) "
            "VALUES (1, $1, $2, $3, $4, $5)",
            state.active, state.reason, state.actor, state.since, state.generation,
        )
        return state

    def apply(self, state: HaltState) -> None:
        was = self._state.active
        self._state = state
        if state.active:
            self._resumed.clear()
            if not was:
                for listener in self._listeners:
                    listener(state)
        else:
            self._resumed.set()

    @property
    def resumed_event(self) -> asyncio.Event:
        """Set while no halt is in force."""
        return self._resumed

    async def watch(self, interval: float) -> None:
        """Poll the store for changes made by other processes (runs until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(StoreError):
                await self.refresh()
