"""The store shared by the ledger, the team engine, the watch and the bot: SQLite or PostgreSQL.

It sits below every other package and imports none of them (errors: :mod:`store.errors`).

SQL is written once with PostgreSQL-style ``$1`` placeholders; the SQLite backend rewrites
them to ``?1``. Timestamps are epoch seconds (``DOUBLE PRECISION`` / ``REAL``). Each
component owns a list of versioned :class:`Migration` objects applied by
:meth:`Database.migrate`.
"""

from store._base import Database, Dialect, Migration, Row, apply_migrations
from store._open import open_database
from store._sqlite import SqliteDatabase
from store.errors import DatabaseUrlError, StoreError, StoreRejected, StoreUnavailable

__all__ = [
    "Database", "DatabaseUrlError", "Dialect", "Migration", "Row", "SqliteDatabase",
    "StoreError", "StoreRejected", "StoreUnavailable", "apply_migrations", "open_database",
]
