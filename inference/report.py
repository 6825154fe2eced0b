"""Spend reports over the ledger: one function behind ``homecrew spend``, ``/spend`` and the
daily report.

*local share* is the share of answered requests (served or cache hits) that no cloud node
served; the *cloud-only counterfactual* is what the same tokens would have cost on the
reference cloud model (``ledger.reference_model``); *savings* is that minus real spend.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from store import Database, Row

__all__ = ["GROUPINGS", "Grouping", "SpendReport", "SpendRow", "parse_since", "spend_report"]

Grouping = Literal["agent", "key", "route", "node", "model", "day"]
GROUPINGS: tuple[Grouping, ...] = ("agent", "key", "route", "node", "model", "day")
# the column of each grouping ("key": the gateway API key's name; "-" for bot traffic)
_COLUMNS: dict[Grouping, str] = {
    "agent": "COALESCE(agent, '-')", "key": "COALESCE(key_name, '-')", "route": "route",
    "node": "node", "model": "model", "day": "day",
}
_SINCE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_AGGREGATES = """
    COUNT(*) AS attempts,
    SUM(CASE WHEN outcome IN ('ok', 'cache_hit') THEN 1 ELSE 0 END) AS answered,
    SUM(CASE WHEN outcome = 'cache_hit' THEN 1 ELSE 0 END) AS cache_hits,
    SUM(CASE WHEN outcome = 'ok' AND cloud THEN 1 ELSE 0 END) AS cloud_answered,
    SUM(CASE WHEN outcome = 'ok' AND fallback_depth > 0 THEN 1 ELSE 0 END) AS fallbacks,
    SUM(CASE WHEN outcome NOT IN ('ok', 'cache_hit', 'cancelled') THEN 1 ELSE 0 END)
        AS failures,
    SUM(prompt_tokens) AS prompt_tokens,
    SUM(completion_tokens) AS completion_tokens,
    SUM(cost_usd) AS cost_usd,
    SUM(CASE WHEN outcome = 'ok' THEN cloud_equivalent_usd ELSE 0 END) AS cloud_only_usd,
    AVG(CASE WHEN outcome = 'ok' THEN latency_s END) AS avg_latency_s
"""


def parse_since(text: str) -> float:
    """``30m``, ``24h``, ``7d``, ``2w`` → seconds."""
    match = _SINCE.match(text.strip())
    if not match:
        raise ValueError(f"expected a period like 30m, 24h, 7d or 2w, got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class SpendRow:
    key: str
    attempts: int
    answered: int
    cache_hits: int
    cloud_answered: int
    fallbacks: int
    failures: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cloud_only_usd: float
    avg_latency_s: float | None

    @property
    def local_share(self) -> float:
        return (self.answered - self.cloud_answered) / self.answered if self.answered else 0.0

    @property
    def savings_usd(self) -> float:
        return max(0.0, self.cloud_only_usd - self.cost_usd)

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.answered if self.answered else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(local_share=round(self.local_share, 4),
                    savings_usd=self.savings_usd, cache_hit_rate=round(self.cache_hit_rate, 4))
        return data

    @classmethod
    def from_row(cls, key: str, row: Row) -> SpendRow:
        return cls(
            key=key,
            attempts=int(row["attempts"] or 0),
            answered=int(row["answered"] or 0),
            cache_hits=int(row["cache_hits"] or 0),
            cloud_answered=int(row["cloud_answered"] or 0),
            fallbacks=int(row["fallbacks"] or 0),
            failures=int(row["failures"] or 0),
            prompt_tokens=int(row["prompt_tokens"] or 0),
            completion_tokens=int(row["completion_tokens"] or 0),
            cost_usd=float(row["cost_usd"] or 0.0),
            cloud_only_usd=float(row["cloud_only_usd"] or 0.0),
            avg_latency_s=None if row["avg_latency_s"] is None else float(row["avg_latency_s"]),
        )


@dataclass(frozen=True, slots=True)
class SpendReport:
    since: float
    until: float
    by: Grouping
    total: SpendRow
    rows: tuple[SpendRow, ...]
    top_calls: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "by": self.by,
            "total": self.total.to_json(),
            "rows": [r.to_json() for r in self.rows],
            "top_calls": list(self.top_calls),
        }


async def spend_report(
    db: Database,
    *,
    since: float,
    until: float | None = None,
    by: Grouping = "agent",
) -> SpendReport:
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(GROUPINGS)}")
    end = time.time() if until is None else until
    column = _COLUMNS[by]
    window = "WHERE ts >= $1 AND ts < $2"
    total = await db.fetch(f"SELECT {_AGGREGATES} FROM ledger {window}", since, end)
    grouped = await db.fetch(
        f"SELECT {column} AS key, {_AGGREGATES} FROM ledger {window} "
        f"GROUP BY {column} ORDER BY {column}",
        since, end,
    )
    top = await db.fetch(
        "SELECT ts, agent, key_name, route, node, model, prompt_tokens, completion_tokens, "
        "cost_usd "
        f"FROM ledger {window} AND cost_usd > 0 ORDER BY cost_usd DESC LIMIT 5",
        since, end,
    )
    return SpendReport(
        since=since,
        until=end,
        by=by,
        total=SpendRow.from_row("total", total[0]),
        rows=tuple(SpendRow.from_row(str(r["key"]), r) for r in grouped),
        top_calls=tuple(dict(r) for r in top),
    )
