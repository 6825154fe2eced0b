from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from store._base import Database, Dialect, Row
from store.errors import StoreError, StoreRejected, StoreUnavailable

__all__ = ["PostgresDatabase"]

_UNAVAILABLE = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)
# The data, not the server: a value out of range or not encodable, a constraint.
_REJECTED = (asyncpg.exceptions.DataError, asyncpg.exceptions.IntegrityConstraintViolationError)


def redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@asynccontextmanager
async def _mapped() -> AsyncIterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unreachable: {type(exc).__name__}: {exc}") from exc
    except _REJECTED as exc:
        raise StoreRejected(f"PostgreSQL refused the data: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"PostgreSQL: {exc}") from exc


class _Connection:
    """A Database bound to one connection (inside a transaction)."""

    dialect: Dialect = "postgres"

    def __init__(
        self, conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record], description: str
    ) -> None:
        self._conn = conn
        self.description = description

    async def execute(self, sql: str, *args: Any) -> None:
        async with _mapped():
            await self._conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with _mapped():
            await self._conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with _mapped():
            return [dict(r) for r in await self._conn.fetch(sql, *args)]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with _mapped():
            return await self._conn.fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        async with _mapped(), self._conn.transaction():
            yield self

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.fetchval("SELECT 1")
        return time.perf_counter() - started

    async def close(self) -> None:
        return None


class PostgresDatabase:
    """An asyncpg pool; broken connections are replaced on the next acquire."""

    dialect: Dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool, description: str) -> None:
        self._pool = pool
        self.description = description

    @classmethod
    async def open(cls, url: str, *, connect_timeout: float = 5.0) -> PostgresDatabase:
        async with _mapped():
            pool = await asyncpg.create_pool(
                url, min_size=0, max_size=5, timeout=connect_timeout, command_timeout=30,
            )
        return cls(pool, redact(url))

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[_Connection]:
        async with _mapped(), self._pool.acquire(timeout=5.0) as conn:
            yield _Connection(conn, self.description)

    async def execute(self, sql: str, *args: Any) -> None:
        async with self._conn() as conn:
            await conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._conn() as conn:
            await conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._conn() as conn:
            return await conn.fetch(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._conn() as conn:
            return await conn.fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        async with self._conn() as conn, conn.transaction():
            yield conn

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.fetchval("SELECT 1")
        return time.perf_counter() - started

    async def close(self) -> None:
        try:
            async with asyncio.timeout(5):
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()
