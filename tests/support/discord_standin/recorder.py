"""An append-only log of `RecordedEvent`s with waiting helpers (past or future events)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TypeVar, cast

from .events import RecordedEvent

__all__ = ["Recorder"]

E = TypeVar("E", bound=RecordedEvent)
Predicate = Callable[[RecordedEvent], bool]


@dataclass
class _Waiter:
    predicate: Predicate
    future: asyncio.Future[RecordedEvent]


@dataclass
class _ConditionWaiter:
    condition: Callable[[], bool]
    future: asyncio.Future[None]


class Recorder:
    """Holds every event in order; `wait_*` return the first match, already recorded or not."""

    def __init__(self) -> None:
        self._events: list[RecordedEvent] = []
        self._waiters: list[_Waiter] = []
        self._conditions: list[_ConditionWaiter] = []

    def record(self, event: RecordedEvent) -> None:
        self._events.append(event)
        for waiter in list(self._waiters):
            self._offer(waiter, event)
        for cond in list(self._conditions):
            self._check(cond)

    def mark(self) -> int:
        """A position to pass as `since=` so only later events count."""
        return len(self._events)

    def events(self, kind: type[E], *, since: int = 0) -> list[E]:
        return [e for e in self._events[since:] if isinstance(e, kind)]

    async def wait_for(
        self, predicate: Predicate, *, timeout: float = 5.0, since: int = 0  # noqa: ASYNC109 (test API takes timeout=)
    ) -> RecordedEvent:
        for event in self._events[since:]:
            if predicate(event):
                return event
        loop = asyncio.get_running_loop()
        waiter = _Waiter(predicate, loop.create_future())
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            raise TimeoutError(self._timeout_message(timeout)) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def wait_for_event(
        self,
        kind: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (test API takes timeout=)
        since: int = 0,
    ) -> E:
        def typed(event: RecordedEvent) -> bool:
            return isinstance(event, kind) and (predicate is None or predicate(event))

        return cast(E, await self.wait_for(typed, timeout=timeout, since=since))

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 5.0, poll: float = 0.01  # noqa: ASYNC109
    ) -> None:
        """Wait until `condition()` holds: re-checked after every recorded event and every `poll` s.

        The polling covers conditions on the bot's own state (which the stand-in cannot see).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = _ConditionWaiter(condition, loop.create_future())
        self._conditions.append(waiter)
        try:
            while not waiter.future.done():
                if condition():
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(timeout))
                await asyncio.wait([waiter.future], timeout=min(poll, remaining))
            waiter.future.result()
        finally:
            if waiter in self._conditions:
                self._conditions.remove(waiter)

    def _offer(self, waiter: _Waiter, event: RecordedEvent) -> None:
        if waiter.future.done():
            return
        try:
            matched = waiter.predicate(event)
        except Exception as exc:
            waiter.future.set_exception(exc)
            return
        if matched:
            waiter.future.set_result(event)

    def _check(self, waiter: _ConditionWaiter) -> None:
        if waiter.future.done():
            return
        try:
            if waiter.condition():
                waiter.future.set_result(None)
        except Exception as exc:
            waiter.future.set_exception(exc)

    def _timeout_message(self, timeout: float) -> str:
        recent = "\n  ".join(describe(e) for e in self._events[-15:])
        return f"nothing matched within {timeout}s; last events:\n  {recent}"


def describe(event: RecordedEvent) -> str:
    """One short line per event, for failure messages."""
    parts = []
    for f in fields(event):
        if f.name in {"at", "data", "embeds", "components", "commands", "files", "changed"}:
            continue
        value = repr(getattr(event, f.name))
        parts.append(f"{f.name}={value[:60]}")
    return f"{type(event).__name__}({', '.join(parts)})"
