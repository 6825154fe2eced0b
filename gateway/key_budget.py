"""API keys' monthly cloud budgets (a key's ``monthly_usd``), shared by the replicas.

Like an agent's budget (:mod:`inference.budget`): :class:`KeySpend` is a record sink that
adds up the cost of each key's cloud attempts, and :class:`KeyBudgetGate` is the step layer
that skips cloud steps (``BudgetExceeded``: the chain falls through) while the request's key
has reached its limit (:class:`KeyEmbedBudgetGate` the same for embedding steps). Local
steps are never blocked.

The spend is shared through Redis: one hash per month (``homecrew:gateway:key_spend:
YYYY-MM``, field per key name), seeded ONCE from the ledger by whichever replica gets
there first (a Lua script guarded by a ``__seeded__`` field), then moved by
``HINCRBYFLOAT`` as records arrive. ``record`` never waits: it counts locally at once and
queues the increment for a pushing task, which holds increments while Redis is away and
sends them when it is back. A replica always counts its own spend and the ledger's seed, so
without Redis the budget holds per replica. If Redis lost the month's hash (restarted
without persistence), it is seeded again from the ledger; increments not yet pushed may
then be counted twice (a budget errs on the side of stopping early).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from gateway.shared_redis import SharedRedis
from inference.errors import BudgetExceeded, StoreError
from inference.records import LedgerRecord
from inference.step import EmbedCaller, Embedded, Step, StepCaller, StepEvent
from inference.types import ChatRequest, EmbedRequest
from store import Database

__all__ = ["KeyBudgetGate", "KeyEmbedBudgetGate", "KeySpend", "ledger_spend", "month_of"]

log = logging.getLogger(__name__)

_PREFIX = "homecrew:gateway:key_spend:"
_SEEDED = "__seeded__"  # no key name can be this (names start with a letter)
_TTL_S = 40 * 24 * 3600  # a month's hash outlives the month
_MAX_QUEUED = 100_000
# KEYS[1]: the month's hash; ARGV: ttl, then key name / usd pairs. 1 if this call seeded.
_SEED = """
if redis.call('HSETNX', KEYS[1], '__seeded__', '1') == 0 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
# KEYS[1]: the month's hash; ARGV: key name, usd. The new total, or nil if never seeded.
_ADD = """
if redis.call('HEXISTS', KEYS[1], '__seeded__') == 0 then return false end
return redis.call('HINCRBYFLOAT', KEYS[1], ARGV[1], ARGV[2])
"""
_SPENT_SQL = (
    "SELECT key_name, SUM(cost_usd) AS usd FROM ledger WHERE cloud AND cost_usd > 0 "
    "AND key_name IS NOT NULL AND ts >= $1 AND ts < $2 GROUP BY key_name"
)


def month_of(ts: float, zone: ZoneInfo) -> str:
    """The month (``YYYY-MM``, in ``zone``) of epoch seconds ``ts``."""
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m")


async def ledger_spend(db: Database, month: str, zone: ZoneInfo) -> dict[str, float]:
    """Each key's cloud spend in ``month`` (``YYYY-MM`` in ``zone``), from the ledger."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=zone)
    end = (start + timedelta(days=32)).replace(day=1)
    rows = await db.fetch(_SPENT_SQL, start.timestamp(), end.timestamp())
    return {row["key_name"]: float(row["usd"]) for row in rows}


@dataclass(frozen=True, slots=True)
class _Add:
    month: str
    key_name: str
    usd: float


class KeySpend:
    """Cloud spend per key and month (a ``RecordSink``); see the module docstring.

    ``limit_of(name)`` is the key's ``monthly_usd`` (None: no limit). :meth:`run` is the
    pushing task; its owner (:func:`gateway.gate.open_key_gate`) starts and cancels it.
    """

    def __init__(
        self,
        db: Database,
        redis: SharedRedis,
        limit_of: Callable[[str], float | None],
        *,
        timezone: str = "UTC",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._redis = redis
        self._limit_of = limit_of
        self._zone = ZoneInfo(timezone)
        self._clock = clock
        self._local: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._queue: deque[_Add] = deque()
        self._wake = asyncio.Event()
        self._reseed: set[str] = set()  # months whose Redis hash must be seeded
        self._idle = asyncio.Event()  # nothing left to push
        self._idle.set()
        self.pushed = 0

    # -- months -----------------------------------------------------------------------------
    def month(self, ts: float | None = None) -> str:
        return month_of(self._clock() if ts is None else ts, self._zone)

    # -- seeding ----------------------------------------------------------------------------
    async def seed(self) -> None:
        """Start from the ledger's totals for this month (here, and in Redis once)."""
        month = self.month()
        try:
            totals = await ledger_spend(self._db, month, self._zone)
        except StoreError as exc:
            log.warning("key budgets start from zero: the ledger is unreachable (%s)", exc)
            totals = {}
        for name, usd in totals.items():
            self._local[(month, name)] += usd
        await self._seed_redis(month, totals)

    async def _seed_redis(self, month: str, totals: dict[str, float]) -> bool:
        script = self._redis.script(_SEED)
        if script is None:
            return False
        args: list[str | int] = [_TTL_S]
        for name, usd in totals.items():
            args += [name, repr(usd)]
        try:
            await script(keys=[_PREFIX + month], args=args)
        except (RedisError, OSError) as exc:
            self._redis.trouble(exc)
            self._reseed.add(month)
            self._idle.clear()
            self._wake.set()
            return False
        self._redis.answered()
        self._reseed.discard(month)
        return True

    # -- the sink ---------------------------------------------------------------------------
    def record(self, record: LedgerRecord) -> None:
        if not (record.cloud and record.cost_usd > 0 and record.key_name):
            return
        add = _Add(self.month(record.ts), record.key_name, record.cost_usd)
        self._local[(add.month, add.key_name)] += add.usd
        if not self._redis.configured:
            return
        if len(self._queue) >= _MAX_QUEUED:
            self._queue.popleft()
        self._queue.append(add)
        self._idle.clear()
        self._wake.set()

    # -- reading ----------------------------------------------------------------------------
    async def spent(self, key_name: str) -> float:
        """The key's cloud spend this month: the shared total, or this replica's count
        when Redis cannot be read (whichever is larger: pushes may be in flight)."""
        month = self.month()
        local = self._local[(month, key_name)]
        client = self._redis.client
        if client is None:
            return local
        try:
            seeded, value = await client.hmget(  # type: ignore[misc]
                _PREFIX + month, [_SEEDED, key_name])
        except (RedisError, OSError) as exc:
            self._redis.trouble(exc)
            return local
        self._redis.answered()
        if seeded is None:  # a new month, or Redis lost the hash: the pusher seeds it
            self._reseed.add(month)
            self._idle.clear()
            self._wake.set()
            return local
        return max(local, float(value or 0.0))

    async def exceeded(self, key_name: str | None) -> str | None:
        """Why a cloud call for ``key_name`` must not be made now, or None."""
        limit = None if key_name is None else self._limit_of(key_name)
        if key_name is None or limit is None:
            return None
        spent = await self.spent(key_name)
        if spent < limit:
            return None
        return (f"key {key_name!r}'s monthly cloud budget reached (${spent:.2f} of "
                f"${limit:.2f}); local models only")

    # -- pushing ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Push queued increments to Redis, seeding months that need it; never ends."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                while await self._push_one():
                    pass
            except Exception:  # the task must outlive any failure
                log.exception("key budgets: unexpected error pushing spend to Redis")
            if not (self._queue or self._reseed):
                self._idle.set()
                continue
            await asyncio.sleep(0.25)  # Redis is away: try again after its quiet time
            self._wake.set()

    async def settled(self) -> None:
        """Wait until every increment so far reached Redis (bound it with a timeout)."""
        await self._idle.wait()

    async def _push_one(self) -> bool:
        """One step of work (a seed or an increment); False when idle or Redis is away."""
        if self._reseed:
            month = next(iter(self._reseed))
            return await self._seed_redis(month, await self._totals_for_reseed(month))
        if not self._queue:
            return False
        script = self._redis.script(_ADD)
        if script is None:
            return False
        add = self._queue[0]
        try:
            total = await script(keys=[_PREFIX + add.month], args=[add.key_name, repr(add.usd)])
        except (RedisError, OSError) as exc:
            self._redis.trouble(exc)
            return False
        self._redis.answered()
        if total is None:  # the month's hash is gone or new: seed it, then add again
            self._reseed.add(add.month)
            return True
        self._queue.popleft()
        self.pushed += 1
        return True

    async def _totals_for_reseed(self, month: str) -> dict[str, float]:
        try:
            return await ledger_spend(self._db, month, self._zone)
        except StoreError as exc:
            log.warning("key budgets: the ledger is unreachable (%s); Redis starts from this "
                        "replica's count", exc)
            return {name: usd for (m, name), usd in self._local.items() if m == month}


class KeyBudgetGate:
    """Step layer: cloud steps are skipped while the request's key has spent its budget."""

    def __init__(self, inner: StepCaller, spend: KeySpend) -> None:
        self._inner = inner
        self._spend = spend

    async def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        if step.node.is_cloud:
            reason = await self._spend.exceeded(request.key_name)
            if reason is not None:
                raise BudgetExceeded(reason)
        async with aclosing(self._inner.stream(step, request)) as events:
            async for event in events:
                yield event


class KeyEmbedBudgetGate:
    """Embedding step layer: as :class:`KeyBudgetGate`, for ``InferenceStack.embed``."""

    def __init__(self, inner: EmbedCaller, spend: KeySpend) -> None:
        self._inner = inner
        self._spend = spend

    async def embed(self, step: Step, request: EmbedRequest) -> Embedded:
        if step.node.is_cloud:
            reason = await self._spend.exceeded(request.key_name)
            if reason is not None:
                raise BudgetExceeded(reason)
        return await self._inner.embed(step, request)
