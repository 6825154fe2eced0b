"""Command-line options and helpers shared by several commands."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from inference.ledger import SETTLE_S, Ledger
from inference.report import parse_since

__all__ = ["Period", "add_since", "period", "read_prompt", "settle_ledger", "text"]


def text(value: str) -> str:
    """argparse type for free text: bytes the shell passed that are not UTF-8 (they arrive
    as lone surrogates) become U+FFFD, so the text can be sent, stored and hashed."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_prompt(value: str) -> str:
    """The prompt argument, or standard input for ``-`` (undecodable bytes become U+FFFD)."""
    if value != "-":
        return value
    return sys.stdin.buffer.read().decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Period:
    text: str  # as the user wrote it, e.g. "7d"
    seconds: float


def period(text: str) -> Period:
    """argparse type for ``--since``: 30m, 24h, 7d, 2w."""
    try:
        return Period(text, parse_since(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_since(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--since", type=period, default=period(default), metavar="PERIOD",
        help=f"how far back: 30m, 24h, 7d, 2w (default {default})",
    )


async def settle_ledger(ledger: Ledger, budget: float = SETTLE_S) -> None:
    """The records are in the local outbox already; give the database a brief chance."""
    if not await ledger.settle(budget):
        print("homecrew: ledger database unreachable; records kept for later "
              f"(in {ledger.outbox_path})", file=sys.stderr)
