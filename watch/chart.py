"""The spend report's PNG chart, rendered headless (matplotlib's Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from inference.report import SpendRow
from watch.report import SpendDigest

__all__ = ["render_spend_chart"]

_MAX_BARS = 8


def render_spend_chart(digest: SpendDigest, *, target: float) -> bytes:
    """Requests and cost by agent, route and node, with local share against the target."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 9), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(3, 2)
    groups = (("agent", digest.by_agent.rows), ("route", digest.by_route.rows),
              ("node", digest.by_node.rows))
    for row_axes, (label, rows) in zip(axes, groups, strict=True):
        shown = _top(rows)
        keys = [r.key for r in shown]
        _bars(row_axes[0], keys, [float(r.answered) for r in shown], f"Requests by {label}",
              "#3498db")
        _bars(row_axes[1], keys, [r.cost_usd for r in shown], f"Cost by {label} (USD)",
              "#e67e22")
    total = digest.total
    figure.suptitle(
        f"{digest.title}: local share {total.local_share:.1%} (target {target:.0%}), "
        f"cloud ${digest.cloud_spend_usd:.4f}, saved ${total.savings_usd:.4f}",
        fontsize=11,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _top(rows: Sequence[SpendRow]) -> list[SpendRow]:
    return sorted(rows, key=lambda r: (-r.attempts, r.key))[:_MAX_BARS]


def _bars(ax: Any, keys: list[str], values: list[float], title: str, color: str) -> None:
    """One horizontal bar chart on a matplotlib ``Axes``."""
    ax.set_title(title, fontsize=10)
    if not keys:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.barh(keys, values, color=color)
    ax.invert_yaxis()
    ax.tick_params(labelsize=8)
