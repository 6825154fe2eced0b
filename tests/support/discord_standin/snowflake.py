"""Snowflake ids and timestamps shaped like Discord's."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

__all__ = ["DISCORD_EPOCH_MS", "SnowflakeFactory", "iso_now"]

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeFactory:
    """Hands out strictly increasing snowflakes whose timestamp part is "now"."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (now_ms << 22) | (next(self._counter) & 0xFFF)
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate


def iso_now() -> str:
    """The current time as the ISO-8601 string Discord puts in timestamps."""
    return datetime.now(UTC).isoformat()
