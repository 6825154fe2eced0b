"""Doubling delays with a ceiling, started over on success: for reconnects and retries.

discord.py's own ``ExponentialBackoff`` keeps growing across separate outages (its
exponent only resets after 2,048 s without a failure), so a bot that lived through a few
restarts of Discord could wait close to a minute before reconnecting. This one never waits
longer than ``cap`` and is reset by its owner as soon as a connection or request succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    first: float = 1.0
    cap: float = 10.0
    _attempt: int = field(default=0, init=False)

    def delay(self) -> float:
        """The wait before the next attempt (``first``, twice that, … at most ``cap``)."""
        wait = min(self.cap, self.first * float(2 ** min(self._attempt, 32)))
        self._attempt += 1
        return wait

    def reset(self) -> None:
        self._attempt = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempt
