"""Which failures of a post or edit are worth retrying, and what a reply says when it
cannot be finished.

Discord going away shows up as many things: aiohttp connection errors, timeouts, 5xx and
429 answers, or an answer discord.py cannot read (``TypeError``/``KeyError``/
``ValueError``). Those are retried. A 4xx other than 429 (forbidden, bad request, unknown
channel) will not change by waiting, so the reply stops there with its marker.
"""

from __future__ import annotations

import asyncio

import aiohttp
import discord

__all__ = ["INTERRUPTED", "describe_failure", "is_transient"]

INTERRUPTED = ("_(this reply was interrupted: Discord didn't take the rest of it. "
               "Ask again for the full answer.)_")

_TRANSIENT = (aiohttp.ClientError, OSError, asyncio.TimeoutError, TypeError, KeyError,
              ValueError, discord.RateLimited)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, discord.HTTPException):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, _TRANSIENT)


def describe_failure(exc: BaseException) -> str:
    """One line for the log: Discord's status, code and message, or the error type."""
    if isinstance(exc, discord.HTTPException):
        code = f", code {exc.code}" if exc.code else ""
        return f"Discord answered {exc.status}{code}: {(exc.text or '').strip()[:200]}"
    return type(exc).__name__
