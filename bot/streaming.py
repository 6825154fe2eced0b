"""One streamed reply on Discord: posted at the first text, then edited as text arrives.

Edits of one reply are at least ``interval`` seconds apart (text that arrives meanwhile
is folded into the next edit) and each takes a token from the bot's :class:`EditThrottle`.
Past 2,000 characters the reply continues in further messages
(:func:`bot.splitting.split_message`); pages already sent never change, so only the last
message is ever edited while streaming. :meth:`ReplyWriter.finish` sets the closing text
(notices, footer) and waits for the final edit: the message always ends complete.

Use as ``async with ReplyWriter(...) as writer:`` — the flush task is owned by the writer
and cancelled if the block fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import discord

from bot.posting import Poster
from bot.splitting import close_open_fence, split_message
from bot.throttle import EditThrottle

__all__ = ["ReplyWriter", "SentPage"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SentPage:
    message_id: int
    content: str


class ReplyWriter:
    def __init__(
        self, poster: Poster, throttle: EditThrottle, *, interval: float,
        clean: Callable[[str], str] = str, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._poster = poster
        self._clean = clean
        self._throttle = throttle
        self._interval = interval
        self._clock = clock
        self._parts: list[str] = []
        self._placeholder = ""
        self._suffix = ""
        self._pages: list[SentPage] = []
        self._dirty = asyncio.Event()
        self._closed = False
        self._last_edit = 0.0
        self._shown = ""  # the text as last sent
        self._task: asyncio.Task[None] | None = None
        self.failed: str | None = None  # why Discord refused a send, if it did

    # -- what to show -----------------------------------------------------------------------
    def append(self, text: str) -> None:
        if text:
            self._parts.append(text)
            self._dirty.set()

    def set_text(self, text: str) -> None:
        """Replace everything shown so far (for messages that change, like a plan)."""
        self._parts = [text]
        self._dirty.set()

    def placeholder(self, text: str) -> None:
        """Shown until the first real text arrives (e.g. "waiting for resume")."""
        self._placeholder = text
        self._dirty.set()

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def message_ids(self) -> list[int]:
        return [p.message_id for p in self._pages]

    @property
    def started(self) -> bool:
        return bool(self._pages)

    def render(self) -> str:
        body = self.text
        if not body.strip():
            body = self._placeholder if not self._closed or not self._suffix else ""
        if not self._suffix:
            return body
        return (close_open_fence(body) + self._suffix).strip("\n")

    # -- life cycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="reply-writer")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            await self.finish()
        elif self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def finish(self, suffix: str = "") -> None:
        """Append ``suffix`` (notices, footer), make the final edit and wait for it."""
        if not self._closed:
            self._suffix = suffix
            self._closed = True
            self._dirty.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    # -- the flush loop ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            if self._pages and self._clean(self.render()) != self._shown:
                pause = self._last_edit + self._interval - self._clock()
                if pause > 0:
                    await asyncio.sleep(pause)
            self._dirty.clear()
            closing = self._closed
            await self._sync()
            if closing or self.failed is not None:
                return

    async def _sync(self) -> None:
        text = self._clean(self.render())
        if not text.strip() or text == self._shown:
            return
        self._shown = text
        pages = split_message(text, self._poster.limit)
        try:
            for index, page in enumerate(pages):
                if index < len(self._pages):
                    await self._edit(self._pages[index], page)
                else:
                    message_id = await self._poster.send(page)
                    self._pages.append(SentPage(message_id, page))
        except discord.HTTPException as exc:
            self.failed = f"Discord refused the reply ({exc.status}): {exc.text}"
            log.warning("reply abandoned: %s", self.failed)
        self._last_edit = self._clock()

    async def _edit(self, sent: SentPage, content: str) -> None:
        if sent.content == content:
            return
        await self._throttle.acquire(self._poster.channel_id)
        try:
            await self._poster.edit(sent.message_id, content)
        except discord.NotFound:  # deleted meanwhile: post the text again
            sent.message_id = await self._poster.send(content)
        sent.content = content
