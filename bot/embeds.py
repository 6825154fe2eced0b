"""Embeds for the slash commands: status, spend, agents, routes and tasks.

Every value is bounded to Discord's embed limits (title 256, field 1,024, 25 fields).
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.channels import ChannelMap
from inference.native import uses_native_client
from inference.report import SpendReport, SpendRow
from inference.runtime import InferenceStack
from personas.schema import Roster
from team.halt import HaltState
from team.tasks import Task

__all__ = ["agents_embed", "route_embed", "spend_embed", "status_embed", "tasks_embed"]

_FIELD = 1024


def _clip(text: str, limit: int = _FIELD) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def status_embed(stack: InferenceStack, today: SpendReport | None,
                 halt: HaltState, discord_lines: Sequence[str] = ()) -> discord.Embed:
    """``discord_lines``: the bot's own state (slash commands synced or why not, gateway)."""
    embed = discord.Embed(title="homecrew status", colour=discord.Colour.green())
    node_lines = []
    for name, health in stack.health().items():
        icon = "🟢" if health.up else "🔴"
        state = health.state.value
        problem = f" — {health.last_error[:80]}" if health.last_error and not health.up else ""
        client = "native" if uses_native_client(stack.settings.nodes[name]) else "litellm"
        node_lines.append(f"{icon} **{name}** {state} · probe {_ms(health.probe_latency_s)}"
                          f" · {client}{problem}")
    embed.add_field(name="Nodes", value=_clip("\n".join(node_lines) or "none"), inline=False)
    route_lines = []
    for route in stack.settings.routes:
        status = stack.route_status(route)
        steps = " → ".join(f"{a}{'' if ok else ' ✗'}" for a, _, ok in status.steps)
        route_lines.append(f"**{route}**: now {status.serving or 'nobody'} ({steps})")
    embed.add_field(name="Routes", value=_clip("\n".join(route_lines) or "none"), inline=False)
    stats = stack.cache.stats
    embed.add_field(name="Cache", value=f"{stack.cache.backend} · hit rate "
                    f"{stats.hit_rate:.0%} ({stats.hits}/{stats.hits + stats.misses})")
    if today is not None:
        total = today.total
        embed.add_field(name="Today", value=f"local share {total.local_share:.0%} · "
                        f"{total.answered} answered · cloud ${total.cost_usd:.4f}")
    if discord_lines:
        embed.add_field(name="Discord", value=_clip("\n".join(discord_lines)), inline=False)
    if halt.active:
        embed.colour = discord.Colour.red()
        embed.add_field(name="Halt", value=_clip(halt.describe()), inline=False)
    return embed


def _row_line(row: SpendRow) -> str:
    return (f"**{row.key}**: {row.answered} answered · local {row.local_share:.0%} · "
            f"${row.cost_usd:.4f} (cloud-only ${row.cloud_only_usd:.4f})")


def spend_embed(report: SpendReport, period: str) -> discord.Embed:
    total = report.total
    embed = discord.Embed(title=f"Spend — last {period}, by {report.by}",
                          colour=discord.Colour.gold())
    embed.description = (
        f"**{total.answered}** answered ({total.attempts} attempts) · local share "
        f"**{total.local_share:.0%}** · cloud spend **${total.cost_usd:.4f}**\n"
        f"cloud-only would have cost **${total.cloud_only_usd:.4f}** → saved "
        f"**${total.savings_usd:.4f}** · cache hits {total.cache_hit_rate:.0%} · "
        f"fallbacks {total.fallbacks} · failures {total.failures}"
    )
    lines = [_row_line(r) for r in report.rows[:20]]
    embed.add_field(name=f"By {report.by}", value=_clip("\n".join(lines) or "no requests"),
                    inline=False)
    if report.top_calls:
        top = [f"${c.get('cost_usd', 0):.4f} · {c.get('agent') or '-'} · {c.get('model')}"
               for c in report.top_calls]
        embed.add_field(name="Most expensive calls", value=_clip("\n".join(top)), inline=False)
    embed.set_image(url="attachment://spend.png")
    return embed


def agents_embed(roster: Roster, channels: ChannelMap) -> discord.Embed:
    embed = discord.Embed(title="The team", colour=discord.Colour.blurple())
    for persona in list(roster)[:25]:
        channel = channels.by_agent.get(persona.name, persona.channel)
        embed.add_field(
            name=_clip(f"{persona.headline} ({persona.division})", 256), inline=False,
            value=_clip(f"#{channel} · route `{persona.route}`\n_{persona.motto}_\n"
                        f"Authority: {persona.authority}"),
        )
    return embed


def route_embed(stack: InferenceStack, route: str) -> discord.Embed:
    status = stack.route_status(route)
    embed = discord.Embed(title=f"Route {route}", colour=discord.Colour.teal())
    lines = []
    for alias, node, ok in status.steps:
        model = stack.settings.models[alias]
        timeouts = stack.settings.step_timeouts(route, alias)
        lines.append(f"{'✅' if ok else '✗'} **{alias}** on {node} (`{model.model}`) · first "
                     f"token {timeouts.first_token:g} s")
    embed.description = _clip("\n".join(lines), 4096)
    embed.add_field(name="Answering now", value=status.serving or "nobody (every node is down)")
    return embed


def tasks_embed(tasks: Sequence[Task], heading: str) -> discord.Embed:
    embed = discord.Embed(title=heading, colour=discord.Colour.blurple())
    lines = [f"**#{t.id}** {t.kind} · {t.state} · {t.owner} — {t.title[:80]}" for t in tasks]
    embed.description = _clip("\n".join(lines) or "no tasks", 4096)
    return embed
