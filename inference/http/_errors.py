"""HTTP client errors.

    HttpError            the connection failed, or the answer is not HTTP/1.1 we can read
    └── StaleConnection  a reused connection closed before any byte of the answer
"""

from __future__ import annotations

__all__ = ["HttpError", "StaleConnection"]


class HttpError(Exception):
    """The connection failed, or the server's answer is not HTTP/1.1 we can read."""


class StaleConnection(HttpError):
    """A reused connection closed before any byte of the answer (safe to send again)."""
