"""Reading which message a bot answer answers, as a user would (``bot.references``): a
Discord reply, or the small "↪ @asker · jump link" line a webhook answer starts with."""

from __future__ import annotations

import re

from tests.support.discord_standin import VisibleMessage

__all__ = ["answered_id", "body", "reference_line"]

_LINE = re.compile(r"^-# ↪ <@(\d+)> · https://discord\.com/channels/\d+/\d+/(\d+)\n")


def reference_line(message: VisibleMessage) -> tuple[int, int] | None:
    """(asker's user id, asked message id) from the answer's first line, if it has one."""
    match = _LINE.match(message.content)
    return (int(match.group(1)), int(match.group(2))) if match else None


def answered_id(message: VisibleMessage) -> int | None:
    """The message this answer says it answers (a reply, or the reference line)."""
    line = reference_line(message)
    return line[1] if line is not None else message.reference_id


def body(message: VisibleMessage) -> str:
    """The answer's text without the reference line."""
    return _LINE.sub("", message.content, count=1)
