"""Errors raised by the store (the SQLite/PostgreSQL layer).

Hierarchy::

    StoreError                  a database operation failed
    ├── StoreUnavailable        the database cannot be reached right now
    ├── StoreRejected           the database refused this data (a value out of range,
    │                           a constraint): sending it again will not help
    └── DatabaseUrlError        ``database_url`` is neither PostgreSQL nor SQLite

The driver's exceptions (asyncpg, sqlite3) are mapped to these once, in the backends.
:mod:`inference.errors` re-exports the first three for the ledger's callers.
"""

from __future__ import annotations

__all__ = ["DatabaseUrlError", "StoreError", "StoreRejected", "StoreUnavailable"]


class StoreError(Exception):
    """A database operation failed."""


class StoreUnavailable(StoreError):
    """The database cannot be reached; callers buffer and retry."""


class StoreRejected(StoreError):
    """The database refused the data itself (bad value, constraint); a retry fails again."""


class DatabaseUrlError(StoreError, ValueError):
    """The configured database URL names no supported database (a configuration error)."""

    def __init__(self, message: str, *, key: str = "database_url") -> None:
        self.key = key
        super().__init__(f"{key}: {message}")
