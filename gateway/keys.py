"""The gateway's API keys, kept in the ledger's database (table ``gateway_keys``).

A key is a name (the ledger's ``key_name``), the SHA-256 of its secret, an optional route
scope, an optional monthly cloud budget (``monthly_usd``) and rate (``rpm``), and the time
it was revoked, if it was. The secret (``hc-`` + 43 URL-safe characters) is returned once
by :meth:`KeyStore.create` and never stored, logged or shown again.

Every change bumps one counter (table ``gateway_keys_version``) in the same transaction, so
a replica learns that its cached keys are stale with one tiny read (see
:mod:`gateway.gate`). Revoked keys keep their rows and names: the ledger's spend by key
stays unambiguous, and revoking every key does not reopen the gateway.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from gateway.access import LOCAL_KEY
from gateway.errors import DuplicateKeyName, InvalidKeySpec, UnknownKeyName
from personas.schema import NAME_PATTERN
from store import Database, Migration, Row, apply_migrations

__all__ = [
    "COMPONENT", "KEYS_MIGRATIONS", "KEY_PREFIX", "ApiKey", "KeySnapshot", "KeyStore",
    "NewKey", "hash_secret", "new_secret",
]

COMPONENT = "gateway_keys"
KEY_PREFIX = "hc-"
_SECRET_BYTES = 32  # 256 bits

KEYS_MIGRATIONS = (
    Migration(1, """
        CREATE TABLE gateway_keys (
            name TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL,
            routes TEXT,
            monthly_usd DOUBLE PRECISION,
            rpm INTEGER,
            revoked_at DOUBLE PRECISION
        );
        CREATE TABLE gateway_keys_version (
            id INTEGER PRIMARY KEY,
            version INTEGER NOT NULL
        );
        INSERT INTO gateway_keys_version (id, version) VALUES (1, 0)
    """),
)
_BUMP = "UPDATE gateway_keys_version SET version = version + 1 WHERE id = 1"


def new_secret() -> str:
    """A fresh key: ``hc-`` and 256 random bits, URL-safe (recognisable in a leak scan)."""
    return KEY_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """The stored form of a key: its SHA-256, hex.

    A fast, unsalted hash is enough here, unlike for passwords: the secret is 256 random
    bits, so neither a dictionary nor brute force can find it from the hash, and a slow
    KDF (bcrypt, argon2) would add nothing but milliseconds to every request. Unsalted, the
    hash is also the lookup key (one dict or index probe per request); equal hashes mean
    equal secrets, and random secrets never repeat.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored: never its secret."""

    name: str
    key_hash: str
    created_at: float
    routes: frozenset[str] | None = None  # None: every route
    monthly_usd: float | None = None
    rpm: int | None = None
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_json(self) -> dict[str, Any]:
        """The key for ``homecrew keys list --json`` (no hash, no secret)."""
        return {
            "name": self.name,
            "routes": None if self.routes is None else sorted(self.routes),
            "monthly_usd": self.monthly_usd,
            "rpm": self.rpm,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def from_row(cls, row: Row) -> ApiKey:
        routes = row["routes"]
        return cls(
            name=row["name"], key_hash=row["key_hash"], created_at=float(row["created_at"]),
            routes=None if routes is None else frozenset(json.loads(routes)),
            monthly_usd=None if row["monthly_usd"] is None else float(row["monthly_usd"]),
            rpm=None if row["rpm"] is None else int(row["rpm"]),
            revoked_at=None if row["revoked_at"] is None else float(row["revoked_at"]),
        )


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created, with its secret: show ``secret`` once, then drop it."""

    key: ApiKey
    secret: str

    def __repr__(self) -> str:  # never the secret, even in a traceback's locals
        return f"NewKey(key={self.key!r}, secret='{KEY_PREFIX}…')"


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    """Every key (revoked ones too) as of ``version`` of the table."""

    version: int
    keys: tuple[ApiKey, ...]


def _check_spec(name: str, routes: Collection[str] | None, known_routes: Collection[str],
                monthly_usd: float | None, rpm: int | None) -> None:
    if not re.match(NAME_PATTERN, name):
        raise InvalidKeySpec("name", f"{name!r}: use 1-32 lower-case letters, digits, - and _, "
                             "starting with a letter")
    if name == LOCAL_KEY:
        raise InvalidKeySpec("name", f"{LOCAL_KEY!r} is reserved for the traffic of a gateway "
                             "without keys")
    if routes is not None:
        if not routes:
            raise InvalidKeySpec("routes", "name at least one route (or leave it out: every "
                                 "route)")
        unknown = sorted(set(routes) - set(known_routes))
        if unknown:
            raise InvalidKeySpec("routes", f"unknown route(s) {', '.join(unknown)}; known: "
                                 f"{', '.join(sorted(known_routes)) or '(none)'}")
    if monthly_usd is not None and not (math.isfinite(monthly_usd) and monthly_usd >= 0):
        raise InvalidKeySpec("monthly_usd", f"{monthly_usd} must be a number >= 0")
    if rpm is not None and rpm < 1:
        raise InvalidKeySpec("rpm", f"{rpm} must be at least 1")


class KeyStore:
    """The ``gateway_keys`` table of a database (migrated by :meth:`open`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def database(self) -> Database:
        return self._db

    @classmethod
    async def open(cls, db: Database) -> KeyStore:
        await apply_migrations(db, COMPONENT, KEYS_MIGRATIONS)
        return cls(db)

    async def create(
        self,
        name: str,
        *,
        known_routes: Collection[str],
        routes: Collection[str] | None = None,
        monthly_usd: float | None = None,
        rpm: int | None = None,
    ) -> NewKey:
        """A new key; raises :class:`InvalidKeySpec` or :class:`DuplicateKeyName`."""
        _check_spec(name, routes, known_routes, monthly_usd, rpm)
        secret = new_secret()
        key = ApiKey(name=name, key_hash=hash_secret(secret), created_at=time.time(),
                     routes=None if routes is None else frozenset(routes),
                     monthly_usd=monthly_usd, rpm=rpm)
        async with self._db.transaction() as tx:
            if await tx.fetchval("SELECT 1 FROM gateway_keys WHERE name = $1", name):
                raise DuplicateKeyName(name)
            await tx.execute(
                "INSERT INTO gateway_keys (name, key_hash, created_at, routes, monthly_usd, "
                "rpm, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
                key.name, key.key_hash, key.created_at,
                None if key.routes is None else json.dumps(sorted(key.routes)),
                key.monthly_usd, key.rpm,
            )
            await tx.execute(_BUMP)
        return NewKey(key, secret)

    async def revoke(self, name: str) -> ApiKey:
        """Revoke ``name`` (again: a no-op); raises :class:`UnknownKeyName`."""
        async with self._db.transaction() as tx:
            rows = await tx.fetch("SELECT * FROM gateway_keys WHERE name = $1", name)
            if not rows:
                names = [r["name"] for r in await tx.fetch(
                    "SELECT name FROM gateway_keys ORDER BY name")]
                raise UnknownKeyName(name, names)
            key = ApiKey.from_row(rows[0])
            if key.revoked:
                return key
            revoked_at = time.time()
            await tx.execute("UPDATE gateway_keys SET revoked_at = $1 WHERE name = $2",
                             revoked_at, name)
            await tx.execute(_BUMP)
        return ApiKey(key.name, key.key_hash, key.created_at, key.routes, key.monthly_usd,
                      key.rpm, revoked_at)

    async def keys(self) -> list[ApiKey]:
        """Every key, oldest first (revoked ones too)."""
        return list((await self.snapshot()).keys)

    async def version(self) -> int:
        """The change counter: it moves whenever a key is created or revoked."""
        return int(await self._db.fetchval(
            "SELECT version FROM gateway_keys_version WHERE id = 1"))

    async def snapshot(self) -> KeySnapshot:
        """Every key and the version they are as of (read in that order, so a change in
        between shows as a newer version on the next look)."""
        version = await self.version()
        rows = await self._db.fetch("SELECT * FROM gateway_keys ORDER BY created_at, name")
        return KeySnapshot(version, tuple(ApiKey.from_row(r) for r in rows))
