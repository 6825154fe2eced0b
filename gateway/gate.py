"""KeyGate: the gateway's :class:`~gateway.access.Gatekeeper` over the stored API keys.

With no keys at all every request is admitted as :data:`~gateway.access.LOCAL_KEY`. Once
any key exists (revoked ones count: revoking every key does not reopen the gateway), each
request must carry one, as ``Authorization: Bearer …`` or ``x-api-key``; a missing, unknown
or revoked key is a 401 whose message never echoes what was sent, and a key over its
``rpm`` a 429 with ``Retry-After`` (:mod:`gateway.ratelimit`).

Requests never touch the database: keys are held in memory by hash. Every ``refresh_s``
(0.5 s) a background task reads the key table's change counter (one tiny row) and reloads
the keys when it moved, so a key created or revoked by ``homecrew keys`` on any machine
takes effect on every replica within about half a second. The database is the only source
of truth (no notification can be lost); while it is unreachable the last keys known stay in
force. A secret unknown here is refused at once, without a database read per guess.

:func:`open_key_gate` assembles the gate, the shared rate limiter and the key budgets
(:mod:`gateway.key_budget`) for the composition root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Protocol

from gateway.access import LOCAL_KEY, Grant
from gateway.config import GatewaySettings
from gateway.errors import RateLimited, Unauthorized
from gateway.key_budget import KeyBudgetGate, KeyEmbedBudgetGate, KeySpend
from gateway.keys import ApiKey, KeySnapshot, KeyStore, hash_secret
from gateway.ratelimit import RateLimiter
from gateway.shared_redis import SharedRedis
from inference.config import BudgetConfig, CacheConfig, LedgerConfig
from inference.errors import StoreError
from inference.ledger import LEDGER_MIGRATIONS
from inference.step import EmbedCaller, StepCaller
from store import Database, apply_migrations, open_database

__all__ = ["KeyGate", "KeyGateSettings", "open_key_gate", "shared_redis_url"]

log = logging.getLogger(__name__)

REFRESH_S = 0.5
_MISSING = ("missing API key: send it as 'Authorization: Bearer <key>' or "
            "'x-api-key: <key>' (create one with `homecrew keys create`)")


class KeyGateSettings(Protocol):
    """What the gate reads of the settings (``homecrew.settings.Settings`` has it all)."""

    @property
    def gateway(self) -> GatewaySettings: ...

    @property
    def ledger(self) -> LedgerConfig: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def cache(self) -> CacheConfig: ...

    @property
    def budgets(self) -> BudgetConfig: ...


def shared_redis_url(settings: KeyGateSettings) -> str | None:
    """The Redis the replicas share: ``gateway.redis_url``, else ``cache.redis_url``."""
    return settings.gateway.redis_url or settings.cache.redis_url


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The secret in ``Authorization: Bearer …`` (first) or ``x-api-key``, if any."""
    auth = _header(headers, "authorization")
    if auth is not None:
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = (_header(headers, "x-api-key") or "").strip()
    return api_key or None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, found in headers.items():  # a plain dict: header names are case-insensitive
        if key.lower() == name:
            return found
    return None


class KeyGate:
    """Admits requests by API key (a ``Gatekeeper``); see the module docstring.

    ``spend`` is the key budgets' record sink, :meth:`budget_layer` their step layer and
    :meth:`embed_budget_layer` their embedding step layer: give all three to the inference
    stack (see :func:`open_key_gate`).
    """

    def __init__(self, store: KeyStore, limiter: RateLimiter, redis: SharedRedis,
                 db: Database, *, timezone: str = "UTC", refresh_s: float = REFRESH_S) -> None:
        self._store = store
        self._limiter = limiter
        self._refresh_s = refresh_s
        self._snapshot = KeySnapshot(-1, ())
        self._by_hash: dict[str, ApiKey] = {}
        self._by_name: dict[str, ApiKey] = {}
        self._grants: dict[str, Grant] = {}
        self._store_error: str | None = None
        self._changed = asyncio.Event()
        self.spend = KeySpend(db, redis, self.monthly_usd, timezone=timezone)

    # -- the Gatekeeper ---------------------------------------------------------------------
    async def admit(self, headers: Mapping[str, str]) -> Grant:
        if not self._by_hash:
            return Grant(LOCAL_KEY)
        secret = presented_key(headers)
        if secret is None:
            raise Unauthorized(_MISSING)
        key = self._by_hash.get(hash_secret(secret))
        if key is None:
            raise Unauthorized("invalid API key")
        if key.revoked:
            raise Unauthorized(f"API key {key.name!r} has been revoked")
        if key.rpm is not None:
            wait = await self._limiter.acquire(key.name, key.rpm)
            if wait > 0:
                raise RateLimited(f"key {key.name!r} is over its rate of {key.rpm} requests "
                                  "a minute", retry_after=wait)
        return self._grants[key.name]

    async def has_keys(self) -> bool:
        """Whether any key exists (read from the database, not the cache): the server
        refuses a non-loopback address without keys."""
        await self.reload()
        return bool(self._by_hash)

    # -- what the budgets read --------------------------------------------------------------
    def key(self, name: str) -> ApiKey | None:
        return self._by_name.get(name)

    def monthly_usd(self, name: str) -> float | None:
        key = self._by_name.get(name)
        return None if key is None else key.monthly_usd

    def budget_layer(self, inner: StepCaller) -> StepCaller:
        """The key budgets' step layer (an ``InferenceStack`` ``StepLayer``)."""
        return KeyBudgetGate(inner, self.spend)

    def embed_budget_layer(self, inner: EmbedCaller) -> EmbedCaller:
        """The key budgets' embedding step layer (an ``InferenceStack`` ``EmbedLayer``)."""
        return KeyEmbedBudgetGate(inner, self.spend)

    # -- keeping the cache fresh ------------------------------------------------------------
    @property
    def version(self) -> int:
        return self._snapshot.version

    async def reload(self) -> None:
        """Load every key now (raises StoreError)."""
        self._use(await self._store.snapshot())

    async def refresh(self) -> bool:
        """Reload when the table changed since the last load; True if it did."""
        if await self._store.version() == self._snapshot.version:
            return False
        await self.reload()
        return True

    async def changed(self) -> None:
        """Wait for the next load that changed the keys (tests, diagnostics)."""
        await self._changed.wait()

    async def run(self) -> None:
        """Refresh every ``refresh_s`` seconds; never ends (the owner cancels it)."""
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception as exc:  # the task must outlive any failure
                self._trouble(exc)
            else:
                if self._store_error is not None:
                    log.info("gateway: the key table is readable again")
                    self._store_error = None

    def _trouble(self, exc: Exception) -> None:
        if not isinstance(exc, StoreError):
            log.exception("gateway: unexpected error refreshing the API keys")
        if self._store_error is None:
            log.warning("gateway: cannot read the API keys (%s); the last keys known stay "
                        "in force", exc)
        self._store_error = str(exc)

    def _use(self, snapshot: KeySnapshot) -> None:
        if snapshot.version == self._snapshot.version:
            return
        self._snapshot = snapshot
        self._by_hash = {key.key_hash: key for key in snapshot.keys}
        self._by_name = {key.name: key for key in snapshot.keys}
        self._grants = {key.name: Grant(key.name, key.routes) for key in snapshot.keys}
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


@asynccontextmanager
async def open_key_gate(settings: KeyGateSettings, db: Database | None = None, *,
                        refresh_s: float = REFRESH_S) -> AsyncIterator[KeyGate]:
    """The gate over the keys in ``db`` (default: its own connection to the ledger's
    database, ``ledger.database_url``), with its rate limiter and key budgets, for the
    gateway's lifetime (its tasks, Redis client and own connection are closed on exit).
    Open it before the inference stack, whose step layers take its budget layer::

        async with open_key_gate(settings) as gate, \\
                InferenceStack.open(settings, step_layers=[gate.budget_layer],
                                    embed_layers=[gate.embed_budget_layer]) as stack:
            stack.sink.add(gate.spend)

    (Not the ledger's own handle, ``stack.database()``: the ledger closes it on an outage.)
    Raises StoreError when the key table cannot be read at start: a gateway must not
    guess whether keys exist.
    """
    async with AsyncExitStack() as stack:
        if db is None:
            db = await open_database(settings.ledger.database_url, settings.data_dir)
            stack.push_async_callback(db.close)
        redis = SharedRedis(shared_redis_url(settings))
        stack.push_async_callback(redis.close)
        redis.announce_unconfigured()
        store = await KeyStore.open(db)
        with contextlib.suppress(StoreError):  # the budgets' seed reads it (else: warns)
            await apply_migrations(db, "ledger", LEDGER_MIGRATIONS)
        gate = KeyGate(store, RateLimiter(redis), redis, db,
                       timezone=settings.budgets.timezone, refresh_s=refresh_s)
        await gate.reload()
        await gate.spend.seed()
        for name, work in (("gateway-keys", gate.run()), ("gateway-key-spend", gate.spend.run())):
            task = asyncio.create_task(work, name=name)
            stack.push_async_callback(_cancel, task)
        yield gate


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
