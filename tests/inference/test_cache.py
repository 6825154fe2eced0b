"""Response cache: in-process and real Redis, keys, replay, bypass, Redis going away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from inference.cache import CachedReply, MemoryCache, RedisCache, approximate_size, cache_key
from inference.config import CacheConfig, InferenceSettings
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ModelToolCall, ReplyDone, TextDelta, ToolFunction
from tests.support.services import RedisProcess
from tests.support.stack import make_settings
from tests.support.standins import OpenAIStandin, Script


def request(text: str = "status?", **kw: object) -> ChatRequest:
    return ChatRequest(route="chief-monitor", messages=[Message("user", text)], agent="chief",
                       **kw)  # type: ignore[arg-type]


@pytest.fixture
async def node() -> AsyncIterator[OpenAIStandin]:
    async with OpenAIStandin(script=Script(reply="all systems nominal " * 20)) as server:
        yield server


def settings(node: OpenAIStandin, tmp_path: Path, redis_url: str | None) -> InferenceSettings:
    return make_settings(
        nodes={"mlx": {"kind": "openai", "base_url": f"{node.base_url}/v1"}},
        models={"mlx-phi4": {"node": "mlx", "model": "mlx-community/phi-4-4bit"}},
        routes={"chief-monitor": ["mlx-phi4"]},
        data_dir=tmp_path,
        cache={"ttl": 600, "redis_url": redis_url or ""},
    )


def test_key_covers_everything_that_changes_the_answer() -> None:
    base = cache_key(request())
    variants = [
        request("other"),
        request(temperature=0.2),
        request(max_tokens=10),
        request(top_p=0.5),
        request(stop=["\n"]),
        request(seed=7),
        request(response_format={"type": "json_object"}),
        request(tools=[ToolFunction("f")]),
        request(tools=[ToolFunction("f")], tool_choice="required"),
        ChatRequest(route="smart-agent", messages=[
            Message("user", "status?"),
            Message("assistant", "", tool_calls=(ModelToolCall("c1", "f", "{}"),)),
            Message("tool", "up 3 days", tool_call_id="c1", name="f")]),
        ChatRequest(route="smart-agent", messages=[
            Message("user", "status?"),
            Message("assistant", "", tool_calls=(ModelToolCall("c1", "f", "{}"),)),
            Message("tool", "up 4 days", tool_call_id="c1", name="f")]),
        ChatRequest(route="smart-agent", messages=[Message("user", "status?")]),
        ChatRequest(route="chief-monitor",
                    messages=[Message("system", "x"), Message("user", "status?")]),
    ]
    keys = {cache_key(v) for v in variants}
    assert base not in keys
    assert len(keys) == len(variants)
    assert cache_key(replace(request(), agent="someone-else")) == base  # who asks: irrelevant


async def test_memory_cache_ttl_and_lru() -> None:
    now = [0.0]
    cache = MemoryCache(max_entries=2, clock=lambda: now[0])
    reply = CachedReply("t", "n", "m", "u", 1, 2)
    await cache.set("a", reply, ttl=10)
    await cache.set("b", reply, ttl=10)
    assert await cache.get("a") == reply
    await cache.set("c", reply, ttl=10)  # evicts b, the least recently used
    assert await cache.get("b") is None
    now[0] = 11
    assert await cache.get("a") is None
    assert cache.stats.hits == 1


async def test_memory_cache_is_bounded_in_bytes_least_recently_used_first() -> None:
    big = CachedReply("x" * 400_000, "n", "m", "u", 1, 2)
    one = approximate_size("a", big)
    cache = MemoryCache(max_entries=100, max_bytes=3 * one)
    for key in ("a", "b", "c"):
        await cache.set(key, big, ttl=60)
    assert await cache.get("a") == big  # a is now the most recently used
    await cache.set("d", big, ttl=60)  # over the bound: b, the least recently used, goes
    assert await cache.get("b") is None
    assert [await cache.get(k) == big for k in ("a", "c", "d")] == [True, True, True]
    assert len(cache) == 3
    assert cache.size_bytes <= 3 * one
    await cache.set("a", CachedReply("short", "n", "m", "u", 1, 2), ttl=60)  # replaced, not added
    assert cache.size_bytes < 3 * one
    assert len(cache) == 3


async def test_a_reply_larger_than_the_whole_bound_is_not_cached() -> None:
    small = CachedReply("fine", "n", "m", "u", 1, 2)
    cache = MemoryCache(max_entries=100, max_bytes=100_000)
    await cache.set("small", small, ttl=60)
    await cache.set("huge", CachedReply("y" * 200_000, "n", "m", "u", 1, 2), ttl=60)
    assert await cache.get("huge") is None
    assert await cache.get("small") == small  # nothing was evicted to make room for it
    assert 0 < cache.size_bytes <= 100_000


def test_max_bytes_is_configurable_with_a_64_mb_default() -> None:
    assert CacheConfig().max_bytes == 64 * 1024 * 1024
    assert CacheConfig(max_bytes=1024).max_bytes == 1024
    with pytest.raises(ValidationError):
        CacheConfig(max_bytes=0)


def test_a_prompt_with_lone_surrogates_still_has_a_key() -> None:
    odd = ChatRequest(route="smart-agent", messages=[Message("user", "bad \udcff\udcfe bytes")])
    other = ChatRequest(route="smart-agent", messages=[Message("user", "bad \udcfe bytes")])
    assert cache_key(odd).startswith("homecrew:reply:")
    assert cache_key(odd) != cache_key(other)


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_repeat_is_served_from_cache_as_a_stream(
    node: OpenAIStandin, tmp_path: Path, redis_url: str, backend: str
) -> None:
    url = redis_url if backend == "redis" else None
    async with InferenceStack.open(settings(node, tmp_path, url), probes=False) as stack:
        first = await stack.complete(request())
        deltas: list[str] = []
        second: ReplyDone | None = None
        async for event in stack.stream(request()):
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            else:
                second = event
        bypass = await stack.complete(request("fresh", use_cache=False))
        not_stored = await stack.complete(request("fresh"))
        await stack.ledger.flush()
        db = await stack.database()
        outcomes = [r["outcome"] for r in await db.fetch("SELECT outcome FROM ledger ORDER BY ts")]
    assert stack.cache.backend == backend
    assert not first.cached
    assert second is not None
    assert second.cached
    assert len(deltas) > 1  # replayed in pieces, not one blob
    assert "".join(deltas) == first.text == second.text
    assert (second.node, second.model, second.cost_usd) == ("mlx", "mlx-phi4", 0.0)
    assert not bypass.cached
    assert not not_stored.cached  # a bypassed reply is not written to the cache either
    assert len(node.requests_to("/v1/chat/completions")) == 3
    assert outcomes == ["ok", "cache_hit", "ok", "ok"]


async def test_interrupted_replies_are_not_cached(node: OpenAIStandin, tmp_path: Path) -> None:
    node.queue(Script.cut_after_first_chunk(reply="half a reply"))
    async with InferenceStack.open(settings(node, tmp_path, None), probes=False) as stack:
        first = await stack.complete(request(stream=True))
        second = await stack.complete(request())
    assert first.interrupted is not None
    assert not second.cached


async def test_redis_going_away_never_fails_a_request(
    node: OpenAIStandin, tmp_path: Path
) -> None:
    with RedisProcess() as redis_proc:
        async with InferenceStack.open(settings(node, tmp_path, redis_proc.url),
                                       probes=False) as stack:
            await stack.complete(request("one"))
            assert (await stack.complete(request("one"))).cached
            redis_proc.stop()
            during = await stack.complete(request("one"))
            also = await stack.complete(request("two"))
            assert not during.cached
            assert also.text
            assert stack.cache.stats.errors >= 1
            redis_proc.start()  # an empty Redis on the same port
            cache = stack.cache
            assert isinstance(cache, RedisCache)
            await cache.ping()  # a health check that reaches Redis ends it
            assert cache.available
            await stack.complete(request("three"))
            assert (await stack.complete(request("three"))).cached
