"""Exact-match response cache: Redis when configured, an in-process TTL LRU otherwise.

``CachingResponder`` wraps any :class:`~inference.chain.Responder`. The key is a hash of
everything that changes the answer (route, messages, sampling parameters, tools, response
format). A hit is replayed as a stream and recorded in the ledger as a cache hit. Redis
trouble never fails a request: the cache goes quiet and retries after a short back-off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from inference.chain import Responder
from inference.records import LedgerRecord, RecordSink
from inference.types import ChatRequest, ReplyDone, StreamEvent, TextDelta

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CacheStats",
    "CachedReply",
    "CachingResponder",
    "MemoryCache",
    "RedisCache",
    "ResponseCache",
    "approximate_size",
    "cache_key",
]

log = logging.getLogger(__name__)
_KEY_PREFIX = "homecrew:reply:"
_REPLAY_CHUNK = 64


@dataclass(frozen=True, slots=True)
class CachedReply:
    text: str
    node: str
    model: str
    upstream_model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: str | bytes) -> CachedReply:
        return cls(**json.loads(raw))


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class ResponseCache(Protocol):
    backend: str
    stats: CacheStats

    async def get(self, key: str) -> CachedReply | None: ...

    async def set(self, key: str, reply: CachedReply, ttl: int) -> None: ...

    async def close(self) -> None: ...


def cache_key(request: ChatRequest) -> str:
    # surrogatepass: a lone surrogate (undecodable input that reached us anyway) still hashes,
    # and to a key of its own, instead of failing the request.
    material = request.cache_material().encode("utf-8", "surrogatepass")
    return _KEY_PREFIX + hashlib.sha256(material).hexdigest()


DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_ENTRY_OVERHEAD = 256  # the tuple, the dataclass, the key and the dict slot, roughly


def approximate_size(key: str, reply: CachedReply) -> int:
    """Bytes an entry holds in memory, roughly (the strings dominate)."""
    strings = (key, reply.text, reply.node, reply.model, reply.upstream_model)
    return _ENTRY_OVERHEAD + sum(sys.getsizeof(s) for s in strings)


class MemoryCache:
    """In-process TTL cache, least recently used out first past ``max_entries`` entries or
    ``max_bytes`` (approximate) bytes; a single reply larger than ``max_bytes`` is not kept."""

    backend = "memory"

    def __init__(
        self,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._entries: OrderedDict[str, tuple[float, CachedReply, int]] = OrderedDict()
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock
        self.stats = CacheStats()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CachedReply | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            self._drop(key)
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry[1]

    async def set(self, key: str, reply: CachedReply, ttl: int) -> None:
        self._drop(key)
        size = approximate_size(key, reply)
        if size > self._max_bytes:
            return
        self._entries[key] = (self._clock() + ttl, reply, size)
        self._bytes += size
        while len(self._entries) > self._max or self._bytes > self._max_bytes:
            _, (_, _, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]

    async def close(self) -> None:
        self._entries.clear()
        self._bytes = 0


class RedisCache:
    """Redis-backed; on any Redis error it stays quiet for ``retry_after`` seconds."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._retry_after = retry_after
        self._clock = clock
        self._quiet_until = 0.0
        self.stats = CacheStats()

    @property
    def available(self) -> bool:
        return self._clock() >= self._quiet_until

    async def get(self, key: str) -> CachedReply | None:
        if not self.available:
            self.stats.misses += 1
            return None
        try:
            raw = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            self._trouble(exc)
            self.stats.misses += 1
            return None
        if raw is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return CachedReply.loads(raw)

    async def set(self, key: str, reply: CachedReply, ttl: int) -> None:
        if not self.available or ttl <= 0:
            return
        try:
            await self._redis.set(key, reply.dumps(), ex=ttl)
        except (RedisError, OSError) as exc:
            self._trouble(exc)

    async def ping(self) -> float:
        """Round-trip time in seconds; raises RedisError/OSError when unreachable.

        A successful ping ends a quiet period at once (health checks call this).
        """
        started = time.perf_counter()
        await self._redis.ping()  # type: ignore[misc]
        self._quiet_until = 0.0
        return time.perf_counter() - started

    async def close(self) -> None:
        await self._redis.aclose()

    def _trouble(self, exc: BaseException) -> None:
        if self.available:
            log.warning("redis cache unavailable, going on uncached: %s", type(exc).__name__)
        self.stats.errors += 1
        self._quiet_until = self._clock() + self._retry_after


class CachingResponder:
    def __init__(
        self,
        inner: Responder,
        cache: ResponseCache,
        sink: RecordSink,
        ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._sink = sink
        self._ttl = ttl
        self._clock = clock

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        if not request.use_cache or self._ttl <= 0:  # bypass: neither read nor write
            async with aclosing(self._inner.stream(request)) as events:
                async for event in events:
                    yield event
            return
        key = cache_key(request)
        started = self._clock()
        hit = await self._cache.get(key)
        if hit is not None:
            for start in range(0, len(hit.text), _REPLAY_CHUNK):
                yield TextDelta(hit.text[start:start + _REPLAY_CHUNK])
            yield self._hit(request, hit, started)
            return
        async with aclosing(self._inner.stream(request)) as events:
            async for event in events:
                if isinstance(event, ReplyDone) and _cacheable(event):
                    await self._cache.set(key, _to_cached(event), self._ttl)
                yield event

    def _hit(self, request: ChatRequest, hit: CachedReply, started: float) -> ReplyDone:
        latency = self._clock() - started
        self._sink.record(LedgerRecord(
            ts=started, agent=request.agent, key_name=request.key_name, route=request.route,
            node=hit.node,
            model=hit.model, upstream_model=hit.upstream_model,
            prompt_tokens=hit.prompt_tokens, completion_tokens=hit.completion_tokens,
            latency_s=latency, ttft_s=latency, cache_hit=True, outcome="cache_hit",
        ))
        return ReplyDone(
            route=request.route, node=hit.node, model=hit.model,
            upstream_model=hit.upstream_model, prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens, cost_usd=0.0, latency_s=latency,
            ttft_s=latency, fallback_depth=0, cached=True, finish_reason=hit.finish_reason,
            text=hit.text,
        )


def _cacheable(done: ReplyDone) -> bool:
    """A complete text answer. A reply with tool calls is never stored: replayed, it
    would run its tools again on a stale decision (and the key holds the tool results
    of the conversation, so the answer after them is cached as usual)."""
    return done.interrupted is None and bool(done.text) and not done.tool_calls


def _to_cached(done: ReplyDone) -> CachedReply:
    return CachedReply(
        text=done.text, node=done.node, model=done.model, upstream_model=done.upstream_model,
        prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
        finish_reason=done.finish_reason,
    )
