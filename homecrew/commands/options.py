"""Command-line options shared by several commands."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from inference.report import parse_since

__all__ = ["Period", "add_since", "period"]


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
