"""The store layer shared by the ledger and the team engine: SQLite or PostgreSQL.

SQL is written once with PostgreSQL-style ``$1`` placeholders; the SQLite backend rewrites
them to ``?1``. Timestamps are epoch seconds (``DOUBLE PRECISION`` / ``REAL``). Each
component owns a list of versioned :class:`Migration` objects applied by
:meth:`Database.migrate`.
"""

from inference.store._base import Database, Dialect, Migration, Row, apply_migrations
from inference.store._open import open_database
from inference.store._sqlite import SqliteDatabase

__all__ = [
    "Database", "Dialect", "Migration", "Row", "SqliteDatabase", "apply_migrations",
    "open_database",
]
