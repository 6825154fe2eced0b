"""Model calls in flight, so a halt or a /stop can cancel exactly the right ones.

:meth:`InFlight.run` runs one call as a child task tagged with its agent and
conversation. Cancelling it through the registry raises :class:`CallCancelled` (with the
reason) in the caller, which carries on — records the partial reply, reports the step —
while a cancellation of the caller itself still propagates as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Collection, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["CallCancelled", "InFlight"]

T = TypeVar("T")


class CallCancelled(Exception):
    def __init__(self, reason: str, *, halted: bool) -> None:
        self.reason = reason
        self.halted = halted
        super().__init__(reason)


@dataclass
class _Call:
    agent: str
    conversation_id: str
    task: asyncio.Task[Any]
    turn_id: str | None = None
    reason: str | None = None
    halted: bool = False


class InFlight:
    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._calls)

    async def run(self, agent: str, conversation_id: str, coro: Coroutine[Any, Any, T], *,
                  turn_id: str | None = None) -> T:
        task: asyncio.Task[T] = asyncio.create_task(coro, name=f"call-{agent}")
        key = next(self._ids)
        call = _Call(agent, conversation_id, task, turn_id)
        self._calls[key] = call
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if call.reason is not None and current is not None and not current.cancelling():
                raise CallCancelled(call.reason, halted=call.halted) from None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise
        finally:
            del self._calls[key]

    def cancel_agents(self, agents: Collection[str], reason: str) -> int:
        """Cancel every call of these agents (a halt); returns how many."""
        return self._cancel([c for c in self._calls.values() if c.agent in agents], reason,
                            halted=True)

    def cancel_conversation(self, conversation_id: str, reason: str) -> int:
        return self._cancel(
            [c for c in self._calls.values() if c.conversation_id == conversation_id], reason,
            halted=False,
        )

    def cancel_turn(self, turn_id: str, reason: str) -> int:
        """Cancel the calls of one turn (a conversation may run several turns at once)."""
        return self._cancel([c for c in self._calls.values() if c.turn_id == turn_id], reason,
                            halted=False)

    def agents_busy(self) -> list[str]:
        return [c.agent for c in self._calls.values()]

    @staticmethod
    def _cancel(calls: list[_Call], reason: str, *, halted: bool) -> int:
        for call in calls:
            if call.reason is None:
                call.reason, call.halted = reason, halted
                call.task.cancel()
        return len(calls)
