"""The daily spend report and the weekly summary: ``spend_report`` numbers as a message.

The numbers come from :func:`inference.report.spend_report` (the function behind
``homecrew spend`` and ``/spend``), grouped by agent, route and node over the window.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from inference.report import SpendReport, SpendRow, spend_report
from store import Database
from watch.incidents import Incident
from watch.messages import (
    Attachment,
    ChiefMessage,
    MessageField,
    format_duration,
    format_time,
)
from watch.results import Status

__all__ = ["CHART_FILENAME", "SpendDigest", "collect_digest", "compose_report", "money"]

CHART_FILENAME = "spend.png"
_TOP_ROWS = 6


@dataclass(frozen=True, slots=True)
class SpendDigest:
    title: str
    by_agent: SpendReport
    by_route: SpendReport
    by_node: SpendReport
    cloud_nodes: frozenset[str]

    @property
    def since(self) -> float:
        return self.by_agent.since

    @property
    def until(self) -> float:
        return self.by_agent.until

    @property
    def total(self) -> SpendRow:
        return self.by_agent.total

    @property
    def cloud_spend_usd(self) -> float:
        return sum(r.cost_usd for r in self.by_node.rows if r.key in self.cloud_nodes)

    @property
    def top_calls(self) -> tuple[dict[str, Any], ...]:
        return self.by_agent.top_calls


async def collect_digest(
    db: Database, *, title: str, since: float, until: float, cloud_nodes: Collection[str]
) -> SpendDigest:
    by_agent = await spend_report(db, since=since, until=until, by="agent")
    by_route = await spend_report(db, since=since, until=until, by="route")
    by_node = await spend_report(db, since=since, until=until, by="node")
    return SpendDigest(title, by_agent, by_route, by_node, frozenset(cloud_nodes))


def money(usd: float) -> str:
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def compose_report(
    digest: SpendDigest,
    *,
    zone: ZoneInfo,
    target: float,
    chart: bytes | None = None,
    incidents: Sequence[Incident] | None = None,
) -> ChiefMessage:
    total = digest.total
    window = (f"{format_time(digest.since, zone, with_date=True)} → "
              f"{format_time(digest.until, zone, with_date=True)}")
    on_target = total.local_share >= target
    share = f"{total.local_share:.1%} (target {target:.0%}) {'✅' if on_target else '⚠️'}"
    fields = (
        MessageField("Requests", f"{total.answered} answered / {total.attempts} attempts"),
        MessageField("Local share", share),
        MessageField("Cloud spend", money(digest.cloud_spend_usd)),
        MessageField("Total cost", money(total.cost_usd)),
        MessageField("Cloud-only would cost", money(total.cloud_only_usd)),
        MessageField("Savings", money(total.savings_usd)),
        MessageField("Cache hit rate", f"{total.cache_hit_rate:.1%}"),
        MessageField("Fallbacks", str(total.fallbacks)),
        MessageField("Failures", str(total.failures)),
    )
    lines = [f"Window: {window}"]
    if not total.attempts:
        lines.append("No requests in this window.")
    for label, report in (("agent", digest.by_agent), ("route", digest.by_route),
                          ("node", digest.by_node)):
        if report.rows:
            lines.append(f"By {label}: {_rows(report.rows)}")
    lines.extend(_top_calls(digest.top_calls))
    if incidents is not None:
        lines.append(_incident_line(incidents, digest.until))
    attachments = (Attachment(CHART_FILENAME, chart),) if chart else ()
    return ChiefMessage(
        kind="report", title=f"📊 {digest.title}", lines=tuple(lines),
        severity="info" if on_target or not total.answered else "warning",
        fields=fields, footer="Chief · spend from the ledger", timestamp=digest.until,
        attachments=attachments, image=CHART_FILENAME if chart else None,
    )


def _rows(rows: Sequence[SpendRow]) -> str:
    ranked = sorted(rows, key=lambda r: (-r.attempts, r.key))[:_TOP_ROWS]
    parts = [f"{r.key} {r.answered} req {money(r.cost_usd)}" for r in ranked]
    if len(rows) > _TOP_ROWS:
        parts.append(f"+{len(rows) - _TOP_ROWS} more")
    return " · ".join(parts)


def _top_calls(calls: Sequence[dict[str, Any]]) -> list[str]:
    if not calls:
        return []
    out = ["Top expensive calls:"]
    for rank, call in enumerate(calls, 1):
        who = call.get("agent") or "-"
        out.append(
            f"{rank}. {money(float(call['cost_usd']))} {who} via {call['route']} on "
            f"{call['node']} ({call['model']}), {call['prompt_tokens']}+"
            f"{call['completion_tokens']} tokens")
    return out


def _incident_line(incidents: Sequence[Incident], until: float) -> str:
    if not incidents:
        return "Incidents: none."
    critical = sum(1 for i in incidents if i.severity is Status.CRITICAL)
    longest = max(incidents, key=lambda i: i.duration(until))
    lasted = format_duration(longest.duration(until))
    still = " (still open)" if longest.open else ""
    return (f"Incidents: {len(incidents)} ({critical} critical); longest {lasted}{still}: "
            f"{longest.title}")
