"""Plain-text and JSON renderings shared by the CLI commands and the built-in tools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homecrew.settings import Settings
from inference.native import uses_native_client
from inference.report import SpendReport, SpendRow
from inference.runtime import InferenceStack
from inference.types import ReplyDone

__all__ = [
    "ask_json",
    "footer",
    "route_table",
    "route_table_text",
    "spend_text",
    "status_dict",
    "status_text",
    "text_table",
]


def ask_json(done: ReplyDone) -> dict[str, Any]:
    return {
        "text": done.text,
        "node": done.node,
        "model": done.model,
        "upstream_model": done.upstream_model,
        "cached": done.cached,
        "latency_s": round(done.latency_s, 4),
        "ttft_s": None if done.ttft_s is None else round(done.ttft_s, 4),
        "fallback_depth": done.fallback_depth,
        "fell_back_from": list(done.fell_back_from),
        "cost_usd": done.cost_usd,
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "interrupted": done.interrupted,
        "hedged": done.hedged,
    }


def footer(done: ReplyDone) -> str:
    parts = [f"{done.model}@{done.node}", f"{done.latency_s:.2f}s", f"${done.cost_usd:.4f}"]
    if done.cached:
        parts.append("cached")
    if done.fell_back_from:
        parts.append("fell back from " + ", ".join(done.fell_back_from))
    return "[" + " · ".join(parts) + "]"


def status_dict(stack: InferenceStack, *, probe_s: float,
                not_pulled: Mapping[str, list[str] | None] | None = None) -> dict[str, Any]:
    """``not_pulled``: per Ollama node, the configured models it lacks (``None``: unknown)."""
    settings = stack.settings
    nodes: dict[str, dict[str, Any]] = {}
    for name, health in stack.health().items():
        node = settings.nodes[name]
        nodes[name] = {
            "kind": node.kind,
            "client": "native" if uses_native_client(node) else "litellm",
            "cloud": node.is_cloud,
            "state": health.state.value,
            "up": health.up,
            "probe_latency_ms": None if health.probe_latency_s is None
            else round(health.probe_latency_s * 1000, 1),
            "detail": health.probe_detail or ("outcomes only" if not node.probed else None),
            "last_error": health.last_error,
        }
        if node.kind == "ollama" and not_pulled is not None:
            nodes[name]["not_pulled"] = not_pulled.get(name)
    routes = {}
    for route in settings.routes:
        status = stack.route_status(route)
        routes[route] = {
            "serving": status.serving,
            "steps": [{"model": a, "node": n, "available": ok} for a, n, ok in status.steps],
        }
    return {
        "nodes": nodes,
        "routes": routes,
        "cache": {"backend": stack.cache.backend, "hit_rate": stack.cache.stats.hit_rate},
        "ledger": {"backlog": stack.ledger.backlog,
                   "quarantined": stack.ledger.quarantine.count},
        "probe_s": round(probe_s, 3),
    }


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, under a header and a rule."""
    return _table(headers, rows)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _node_detail(node: Mapping[str, Any]) -> str:
    detail = node["last_error"] or node["detail"] or ""
    missing = node.get("not_pulled")
    if missing:
        detail += f"; not pulled: {', '.join(missing)} (ollama pull {' '.join(missing)})"
    return detail


def status_text(report: dict[str, Any]) -> str:
    node_rows = [
        [name, n["kind"], n["client"], n["state"],
         "-" if n["probe_latency_ms"] is None else f"{n['probe_latency_ms']:.0f} ms",
         _node_detail(n)]
        for name, n in report["nodes"].items()
    ]
    route_rows = [
        [route, r["serving"] or "NONE (all steps down)",
         " → ".join(s["model"] + ("" if s["available"] else " ✗") for s in r["steps"])]
        for route, r in report["routes"].items()
    ]
    cache = report["cache"]
    return "\n\n".join([
        _table(["NODE", "KIND", "CLIENT", "STATE", "PROBE", "DETAIL"], node_rows),
        _table(["ROUTE", "SERVING NOW", "CHAIN"], route_rows),
        f"cache: {cache['backend']} · ledger backlog: {report['ledger']['backlog']}"
        + _quarantine_note(report["ledger"]["quarantined"]),
    ])


def route_table(settings: Settings) -> list[dict[str, Any]]:
    return [
        {
            "route": route,
            "primary": f"{steps[0]} ({settings.models[steps[0]].node})",
            "backup": [f"{a} ({settings.models[a].node})" for a in steps[1:]],
            "steps": steps,
        }
        for route, steps in settings.routes.items()
    ]


def route_table_text(table: list[dict[str, Any]]) -> str:
    rows = [[r["route"], r["primary"], " → ".join(r["backup"]) or "-"] for r in table]
    return _table(["ROUTE", "PRIMARY MODEL", "BACKUP"], rows)


def _spend_row(row: SpendRow) -> list[str]:
    return [
        row.key, str(row.answered), str(row.failures), f"{row.local_share:.0%}",
        str(row.cache_hits), f"${row.cost_usd:.4f}", f"${row.cloud_only_usd:.4f}",
        f"${row.savings_usd:.4f}",
    ]


def spend_text(report: SpendReport) -> str:
    headers = [report.by.upper(), "ANSWERED", "FAILED", "LOCAL", "CACHED", "SPEND",
               "CLOUD-ONLY", "SAVED"]
    rows = [_spend_row(r) for r in report.rows] + [_spend_row(report.total)]
    total = report.total
    summary = (
        f"{total.answered} answered · local share {total.local_share:.0%} · cloud spend "
        f"${total.cost_usd:.4f} · cloud-only ${total.cloud_only_usd:.4f} · saved "
        f"${total.savings_usd:.4f} · cache hit rate {total.cache_hit_rate:.0%} · "
        f"{total.fallbacks} fallbacks"
    )
    return _table(headers, rows) + "\n\n" + summary


def _quarantine_note(count: int) -> str:
    if not count:
        return ""
    return (f"\nwarning: {count} ledger record(s) quarantined in the local outbox "
            "(see `homecrew spend`)")
