from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["Database", "Dialect", "Migration", "Row", "apply_migrations"]

Dialect = Literal["sqlite", "postgres"]
Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. ``sql`` may differ per dialect; statements are split on ``;``."""

    version: int
    sql: str | Mapping[Dialect, str]

    def for_dialect(self, dialect: Dialect) -> list[str]:
        text = self.sql if isinstance(self.sql, str) else self.sql[dialect]
        return [stmt.strip() for stmt in text.split(";") if stmt.strip()]


class Database(Protocol):
    dialect: Dialect
    description: str

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    def transaction(self) -> AbstractAsyncContextManager[Database]: ...

    async def ping(self) -> float: ...

    async def close(self) -> None: ...


_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (component, version)
)
"""


async def apply_migrations(db: Database, component: str, migrations: Sequence[Migration]) -> int:
    """Apply the component's pending migrations in order; returns how many ran."""
    await db.execute(_MIGRATIONS_TABLE)
    done = {
        row["version"]
        for row in await db.fetch(
            "SELECT version FROM schema_migrations WHERE component = $1", component
        )
    }
    ran = 0
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        async with db.transaction() as tx:
            for statement in migration.for_dialect(db.dialect):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (component, version, applied_at) "
                "VALUES ($1, $2, $3)",
                component, migration.version, time.time(),
            )
        ran += 1
    return ran
