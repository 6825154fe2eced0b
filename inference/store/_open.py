from __future__ import annotations

from pathlib import Path

from inference.errors import ConfigError
from inference.store._base import Database
from inference.store._postgres import PostgresDatabase
from inference.store._sqlite import SqliteDatabase

__all__ = ["open_database", "sqlite_path"]


def sqlite_path(url: str | None, data_dir: Path) -> Path | None:
    """The SQLite file a database URL names, or None for PostgreSQL URLs."""
    if url is None:
        return data_dir.expanduser() / "homecrew.sqlite3"
    if url.startswith(("postgres://", "postgresql://")):
        return None
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).expanduser()
    raise ConfigError("expected postgresql://…, sqlite:///path or empty", key="database_url")


async def open_database(url: str | None, data_dir: Path) -> Database:
    """PostgreSQL for ``postgres://``/``postgresql://`` URLs, SQLite otherwise.

    ``None`` means ``<data_dir>/homecrew.sqlite3``; ``sqlite:///path`` names a file.
    """
    path = sqlite_path(url, data_dir)
    if path is None:
        assert url is not None
        return await PostgresDatabase.open(url)
    return await SqliteDatabase.open(path)
