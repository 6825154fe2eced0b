from __future__ import annotations

from pathlib import Path

from store._base import Database
from store._postgres import PostgresDatabase
from store._sqlite import SqliteDatabase
from store.errors import DatabaseUrlError

__all__ = ["open_database", "sqlite_path"]


def sqlite_path(url: str | None, data_dir: Path) -> Path | None:
    """The SQLite file a database URL names, or None for PostgreSQL URLs."""
    if url is None:
        return data_dir.expanduser() / "homecrew.sqlite3"
    if url.startswith(("postgres://", "postgresql://")):
        return None
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).expanduser()
    raise DatabaseUrlError("expected postgresql://…, sqlite:///path or empty")


async def open_database(url: str | None, data_dir: Path) -> Database:
    """PostgreSQL for ``postgres://``/``postgresql://`` URLs, SQLite otherwise.

    ``None`` means ``<data_dir>/homecrew.sqlite3``; ``sqlite:///path`` names a file.
    """
    path = sqlite_path(url, data_dir)
    if path is None:
        assert url is not None
        return await PostgresDatabase.open(url)
    return await SqliteDatabase.open(path)
