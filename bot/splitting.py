"""Cut a reply into Discord messages (2,000 characters each) without breaking code blocks.

A page that ends inside a fenced code block is closed with the fence, and the next page
reopens it with the same marker and language, so every message renders on its own.
Cuts prefer a blank line, then a line end, then a space, in the second half of the page.

The cut of every page but the last depends only on the text up to it, so as a streamed
reply grows, pages already sent never change. Lengths are counted in UTF-16 code units
(what Discord counts), which is never less than Python's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DISCORD_LIMIT", "Fence", "close_open_fence", "open_fence", "split_message", "units"]

DISCORD_LIMIT = 2000
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})([^`]*)$")
_MAX_INFO = 20


@dataclass(frozen=True, slots=True)
class Fence:
    marker: str  # the opening run: ``` or ~~~ (or longer)
    info: str  # the language, if any

    def opening(self) -> str:
        return f"{self.marker}{self.info}\n"

    def closing(self) -> str:
        return f"\n{self.marker}"


def units(text: str) -> int:
    """Length as Discord counts it (UTF-16 code units)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def open_fence(text: str, state: Fence | None = None) -> Fence | None:
    """The fenced block still open at the end of ``text`` (given the one open before it)."""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if match is None:
            continue
        marker, info = match.group(1), match.group(2).strip()
        if state is None:
            state = Fence(marker, info.split()[0][:_MAX_INFO] if info else "")
        elif marker[0] == state.marker[0] and len(marker) >= len(state.marker) and not info:
            state = None
    return state


def close_open_fence(text: str) -> str:
    fence = open_fence(text)
    return text + fence.closing() if fence is not None else text


def _fit(text: str, budget: int) -> int:
    """The longest prefix (in code points) of ``text`` within ``budget`` units."""
    end = min(len(text), budget)
    while end > 0 and units(text[:end]) > budget:
        end -= max(1, (units(text[:end]) - budget) // 2)
    return end


def _cut_at(body: str, budget: int) -> tuple[int, int]:
    """Where to cut: (end of this page, start of the next), preferring natural breaks."""
    end = _fit(body, budget)
    floor = end // 2
    for sep in ("\n\n", "\n", " "):
        at = body.rfind(sep, floor, end)
        if at > 0:
            return at, at + len(sep)
    return end, end


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """The pages of ``text``; each fits ``limit`` and keeps code blocks intact."""
    if limit < 200:
        raise ValueError("a page limit below 200 characters leaves no room for code fences")
    pages: list[str] = []
    rest, carry = text, None
    while True:
        body = carry.opening() + rest if carry is not None else rest
        fence = open_fence(body)
        closing = fence.closing() if fence is not None else ""
        if units(body) + units(closing) <= limit:
            pages.append(body + closing)
            break
        reserve = len(_reserve_marker(body[:limit])) + 1
        end, resume = _cut_at(body, limit - reserve)
        page = body[:end]
        carry = open_fence(page)
        if carry is not None:
            page += carry.closing()
        pages.append(page)
        rest = body[resume:]
    return [p for p in pages if p.strip()] or ([text] if text.strip() else [])


def _reserve_marker(body: str) -> str:
    """The longest fence marker in ``body`` (a page's window): room to close a block."""
    longest = "```"
    for line in body.split("\n"):
        match = _FENCE.match(line)
        if match is not None and len(match.group(1)) > len(longest):
            longest = match.group(1)
    return longest
