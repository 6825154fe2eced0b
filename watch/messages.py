"""Chief's messages as typed data (the bot turns them into embeds; the CLI prints them).

Chief's voice is terse status-report style: what, since when, impact, numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "Attachment",
    "ChiefMessage",
    "MessageField",
    "MessageKind",
    "Severity",
    "format_duration",
    "format_number",
    "format_time",
    "join_names",
]

MessageKind = Literal["red_alert", "warning", "escalation", "reminder", "all_clear", "budget",
                      "report"]
Severity = Literal["critical", "warning", "ok", "info"]
_COLORS: Mapping[Severity, int] = {
    "critical": 0xE74C3C, "warning": 0xF1C40F, "ok": 0x2ECC71, "info": 0x3498DB}


@dataclass(frozen=True, slots=True)
class MessageField:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    data: bytes
    content_type: str = "image/png"


@dataclass(frozen=True, slots=True)
class ChiefMessage:
    """One post. ``mention_role``: ping ``watch.incidents.critical_role`` with it."""

    kind: MessageKind
    title: str
    lines: tuple[str, ...]
    severity: Severity
    mention_role: bool = False
    fields: tuple[MessageField, ...] = ()
    footer: str = ""
    timestamp: float | None = None
    attachments: tuple[Attachment, ...] = ()
    incident_id: str | None = None
    image: str | None = None  # filename of an attachment to show inside the embed

    @property
    def color(self) -> int:
        return _COLORS[self.severity]

    @property
    def body(self) -> str:
        return "\n".join(self.lines)

    def text(self) -> str:
        """Plain text (terminal, logs): title, lines, then fields."""
        parts = [self.title, *self.lines]
        parts.extend(f"{f.name}: {f.value}" for f in self.fields)
        if self.footer:
            parts.append(self.footer)
        return "\n".join(parts)


def join_names(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def format_time(ts: float, zone: ZoneInfo, *, with_date: bool = False) -> str:
    moment = datetime.fromtimestamp(ts, zone)
    return moment.strftime("%a %d %b %H:%M %Z" if with_date else "%H:%M %Z")


def format_number(name: str, value: float) -> str:
    if name.endswith("_s"):
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if name.endswith("_bytes"):
        return f"{value / 2**30:.1f} GiB" if value >= 2**30 else f"{value / 2**20:.0f} MiB"
    if name.endswith("fraction"):
        return f"{value:.0%}"
    if name == "percent":
        return f"{value:.0f}%"
    return f"{value:g}"
