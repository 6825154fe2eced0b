"""Fixtures of the gateway tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from store import Database, open_database


@pytest_asyncio.fixture
async def db(store_url: str | None, tmp_path: Path) -> AsyncIterator[Database]:
    """The ledger's database: SQLite in the data dir, then a fresh PostgreSQL one."""
    database = await open_database(store_url, tmp_path)
    yield database
    await database.close()


@pytest_asyncio.fixture
async def pg_db(pg_database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh PostgreSQL database (what replicas share in production)."""
    database = await open_database(pg_database_url, tmp_path)
    yield database
    await database.close()
