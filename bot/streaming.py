"""One streamed reply on Discord: posted at the first text, then edited as text arrives —
step 3 of 3 (:mod:`bot.inbound` → :mod:`bot.reply` → **here**).

Edits of one reply are at least ``interval`` seconds apart (text that arrives meanwhile
is folded into the next edit) and each takes a token from the bot's :class:`EditThrottle`.
Past 2,000 characters the reply continues in further messages
(:func:`bot.splitting.split_message`); pages already sent never change, so only the last
message is ever edited while streaming. :meth:`ReplyWriter.status` shows one transient
line under the text (a tool at work), gone from the final edit. :meth:`ReplyWriter.finish`
sets the closing text (notices, footer) and waits for the final edit: the message always
ends complete.

A post or edit Discord does not take (network error, 5xx, 429, an answer discord.py
cannot read: :func:`bot.delivery.is_transient`) is retried with back-off for up to
``retry_window`` seconds (``discord.post_retry_window``), and the reply then goes on from
where it stood, in full. A reply that cannot be finished (the window passed, or a refusal
that waiting will not change) ends with a visible marker (:data:`bot.delivery.INTERRUPTED`),
retried until Discord takes it (a refusal aside): a reply is never left partial without one.

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

from bot.backoff import Backoff
from bot.delivery import INTERRUPTED, describe_failure, is_transient
from bot.posting import Poster
from bot.splitting import close_open_fence, split_message, units
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
        retry_window: float = 300.0,
    ) -> None:
        self._poster = poster
        self._clean = clean
        self._throttle = throttle
        self._interval = interval
        self._clock = clock
        self._parts: list[str] = []
        self._placeholder = ""
        self._suffix = ""
        self._status = ""  # a transient line under the text (a tool at work)
        self._pages: list[SentPage] = []
        self._dirty = asyncio.Event()
        self._closed = False
        self._last_edit = 0.0
        self._shown = ""  # the text as last sent
        self._task: asyncio.Task[None] | None = None
        self._retry_window = retry_window
        self._trouble_since: float | None = None  # first failure of the current outage
        self._backoff: Backoff | None = None  # made at the first failure (none if none)
        self.failed: str | None = None  # why the reply could not be finished, if so

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

    def status(self, line: str) -> None:
        """One transient line shown under the text while the reply streams (e.g. the
        tool at work: ``🔧 fetch · docs.example.org …``); ``""`` removes it. The final
        edit never shows it."""
        if line != self._status:
            self._status = line
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
        if not self._closed and self._status:
            return (close_open_fence(body) + "\n\n" + self._status).strip("\n")
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
            with contextlib.suppress(asyncio.CancelledError):  # _run raises nothing else
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
        try:
            await self._flush()
        except Exception:  # a bug, not Discord: logged once, here, with its traceback
            log.exception("a reply stopped streaming")
            self.failed = "internal error"
            with contextlib.suppress(Exception):
                await self._mark_interrupted()

    async def _flush(self) -> None:
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
        for index, page in enumerate(split_message(text, self._poster.limit)):
            while True:
                try:
                    await self._put(index, page)
                    break
                except Exception as exc:
                    if not await self._recover(exc):
                        await self._mark_interrupted()
                        return
        self._shown = text
        if self._trouble_since is not None:
            log.info("Discord took the reply again; it goes on")
            self._trouble_since = None
            self._backoff = None
        self._last_edit = self._clock()

    async def _put(self, index: int, page: str) -> None:
        if index < len(self._pages):
            await self._edit(self._pages[index], page)
        else:
            message_id = await self._poster.send(page)
            self._pages.append(SentPage(message_id, page))

    async def _recover(self, exc: Exception, *, bounded: bool = True) -> bool:
        """After a failed post or edit: wait and say True (try again), or say False.

        ``bounded``: give up after ``retry_window`` seconds (else only on a refusal)."""
        why = describe_failure(exc)
        if not is_transient(exc):
            self.failed = why
            log.warning("reply cannot be finished: %s", why,
                        exc_info=not isinstance(exc, discord.HTTPException))
            return False
        now = self._clock()
        if self._trouble_since is None:
            self._trouble_since = now
            log.warning("Discord did not take a reply's message (%s); retrying for up to "
                        "%g s", why, self._retry_window)
        elapsed = now - self._trouble_since
        if bounded and elapsed >= self._retry_window:
            self.failed = f"{why} (for {elapsed:.0f} s)"
            log.warning("reply given up: %s", self.failed)
            return False
        if self._backoff is None:
            self._backoff = Backoff(0.25, 15.0)
        delay = self._backoff.delay()
        await asyncio.sleep(min(delay, self._retry_window - elapsed) if bounded else delay)
        return True

    async def _mark_interrupted(self) -> None:
        """End what is shown with the interrupted marker, as soon as Discord takes it: on
        the last message, or as a message of its own when that cannot be edited."""
        as_new = not self._pages
        while True:
            try:
                if not as_new:
                    last = self._pages[-1]
                    marked = f"{close_open_fence(last.content)}\n\n{INTERRUPTED}"
                    if units(marked) <= self._poster.limit:
                        await self._edit(last, marked)
                        return
                message_id = await self._poster.send(INTERRUPTED)
                self._pages.append(SentPage(message_id, INTERRUPTED))
                return
            except Exception as exc:
                if is_transient(exc):
                    await self._recover(exc, bounded=False)
                elif as_new:
                    log.warning("the interrupted marker was refused too: %s",
                                describe_failure(exc))
                    return
                else:
                    as_new = True

    async def _edit(self, sent: SentPage, content: str) -> None:
        if sent.content == content:
            return
        await self._throttle.acquire(self._poster.channel_id)
        try:
            await self._poster.edit(sent.message_id, content)
        except discord.NotFound:  # deleted meanwhile: post the text again
            sent.message_id = await self._poster.send(content)
        sent.content = content
