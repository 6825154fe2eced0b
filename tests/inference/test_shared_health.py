"""Shared health: a node one replica finds down is skipped by the others within 1 s.

Two inference stacks (or two boards with their syncs) share the real Redis; each test
has its own prefix, since pub/sub channels are not scoped by database.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from inference.config import HealthConfig, InferenceSettings
from inference.errors import NodeUnavailable
from inference.health import HealthBoard
from inference.runtime import InferenceStack
from inference.shared_health import SharedHealth
from inference.types import ChatRequest, Message
from tests.support.processes import free_port
from tests.support.services import RedisProcess
from tests.support.stack import make_settings
from tests.support.standins import HttpError, OllamaStandin, OpenAIStandin, Script
from tests.support.waiting import wait_until

CHAT = "/v1/chat/completions"
REQUEST = ChatRequest(route="smart-agent", messages=[Message("user", "hi")], use_cache=False)


def settings_for(tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, redis_url: str,
                 prefix: str, **health: object) -> InferenceSettings:
    return make_settings(
        nodes={"mlx": {"kind": "openai", "base_url": f"{mlx.base_url}/v1"},
               "ollama": {"kind": "ollama", "base_url": ollama.base_url}},
        models={"m": {"node": "mlx", "model": "mlx-community/Qwen2.5-14B-Instruct-4bit"},
                "o": {"node": "ollama", "model": "qwen2.5:14b"}},
        routes={"smart-agent": ["m", "o"]},
        data_dir=tmp_path,
        health={"shared_redis_url": redis_url, "shared_prefix": prefix, **health},
        timeouts={"hedge_after": "off"},
    )


@asynccontextmanager
async def replicas(settings: InferenceSettings, tmp_path: Path, *, probes_a: bool = True,
                   probes_b: bool = True) -> AsyncIterator[tuple[InferenceStack, InferenceStack]]:
    """Two stacks (own data dirs) sharing health through Redis, both connected."""
    async with AsyncExitStack() as stack:
        opened = []
        for name, probes in (("a", probes_a), ("b", probes_b)):
            own = settings.model_copy(update={"data_dir": tmp_path / name})
            opened.append(await stack.enter_async_context(InferenceStack.open(own,
                                                                              probes=probes)))
        a, b = opened
        for replica in (a, b):
            assert replica.shared_health is not None
            async with asyncio.timeout(5):
                await replica.shared_health.wait_connected()
        yield a, b


@pytest.fixture
def prefix() -> str:
    return f"hc-test-{uuid.uuid4().hex[:8]}"


async def test_a_node_one_replica_finds_down_is_skipped_by_the_other_within_1s(
        tmp_path: Path, redis_url: str, prefix: str) -> None:
    """A's probes see MLX die; B (no probes of its own) skips it within 1 s, and takes it
    back within 1 s of A seeing it return."""
    async with OllamaStandin(script=Script(reply="from ollama")) as ollama:
        mlx = OpenAIStandin(script=Script(reply="from mlx"))
        await mlx.start()
        settings = settings_for(tmp_path, mlx, ollama, redis_url, prefix)
        async with replicas(settings, tmp_path, probes_b=False) as (a, b):
            assert (await b.complete(REQUEST)).node == "mlx"
            await mlx.stop()
            async with asyncio.timeout(5):
                await a.board.wait_for(lambda board: not board.would_allow("mlx"))
            async with asyncio.timeout(1.0):
                await b.board.wait_for(lambda board: not board.would_allow("mlx"))
            assert b.board.get("mlx").state.value == "closed", "B's own circuit never opened"
            assert a.shared_health is not None
            assert a.shared_health.replica in (b.board.get("mlx").remote_down or "")
            done = await b.complete(REQUEST)
            assert (done.node, done.text) == ("ollama", "from ollama")
            assert b.route_status("smart-agent").serving == "o"

            await mlx.start()  # the same port
            try:
                async with asyncio.timeout(5):
                    await a.board.wait_for(lambda board: board.would_allow("mlx"))
                async with asyncio.timeout(1.0):
                    await b.board.wait_for(lambda board: board.would_allow("mlx"))
                assert (await b.complete(REQUEST)).node == "mlx"
            finally:
                await mlx.stop()


async def test_a_wedged_node_stays_skipped_though_its_probes_pass_here(
        tmp_path: Path, redis_url: str, prefix: str) -> None:
    """A request failure on A (the node lists its models fine) holds on B, whose probes
    pass, until A's half-open trial succeeds and A says it is up; nothing is echoed."""
    async with OllamaStandin(script=Script(reply="from ollama")) as ollama, \
            OpenAIStandin(script=Script(reply="from mlx")) as mlx:
        settings = settings_for(tmp_path, mlx, ollama, redis_url, prefix,
                                failure_threshold=1, cooldown=0.3)
        async with replicas(settings, tmp_path) as (a, b):
            assert a.shared_health is not None and b.shared_health is not None
            mlx.queue(Script(failure=HttpError(500)))
            assert (await a.complete(REQUEST)).node == "ollama"
            assert not a.board.would_allow("mlx")
            async with asyncio.timeout(1.0):
                await b.board.wait_for(lambda board: not board.would_allow("mlx"))
            probed = b.board.get("mlx").probed_at
            async with asyncio.timeout(5):
                await b.board.wait_for(lambda board: board.get("mlx").probed_at != probed)
            assert b.board.get("mlx").probe_ok
            calls_before = len(mlx.requests_to(CHAT))
            assert (await b.complete(REQUEST)).node == "ollama"
            assert len(mlx.requests_to(CHAT)) == calls_before, "B sent nothing to MLX"

            client = aioredis.Redis.from_url(redis_url)
            try:
                keys = {k.decode() for k in await client.keys(f"{prefix}:health:down:*")}
            finally:
                await client.aclose()
            assert keys == {f"{prefix}:health:down:mlx:{a.shared_health.replica}"}, \
                "only A reports; B does not echo"

            await wait_until(lambda: a.board.would_allow("mlx"), within=5,
                             what="A's cool-down")
            assert (await a.complete(REQUEST)).node == "mlx"  # the trial closes the circuit
            async with asyncio.timeout(1.0):
                await b.board.wait_for(lambda board: board.would_allow("mlx"))


async def test_a_replica_that_starts_later_reads_the_current_reports(
        tmp_path: Path, redis_url: str, prefix: str) -> None:
    async with OllamaStandin() as ollama, OpenAIStandin() as mlx:
        settings = settings_for(tmp_path, mlx, ollama, redis_url, prefix, failure_threshold=1)
        async with InferenceStack.open(settings.model_copy(update={"data_dir": tmp_path / "a"}),
                                       probes=False) as a:
            assert a.shared_health is not None
            async with asyncio.timeout(5):
                await a.shared_health.wait_connected()
            a.board.record_failure("mlx", NodeUnavailable("connection refused"))
            key = f"{prefix}:health:down:mlx:{a.shared_health.replica}"
            client = aioredis.Redis.from_url(redis_url)
            try:
                await wait_until(lambda: client.exists(key), within=2, what="A's report")
            finally:
                await client.aclose()
            late = settings.model_copy(update={"data_dir": tmp_path / "late"})
            async with InferenceStack.open(late, probes=False) as b:
                assert b.shared_health is not None
                async with asyncio.timeout(5):
                    await b.shared_health.wait_connected()
                assert not b.board.would_allow("mlx")
                assert "connection refused" in (b.board.get("mlx").remote_down or "")


def _board() -> HealthBoard:
    return HealthBoard(HealthConfig(failure_threshold=1), ["mlx", "ollama"])


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "inference.shared_health" and r.levelno == logging.WARNING]


async def test_without_redis_health_stays_local_with_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inference.shared_health")
    board = _board()
    sync = SharedHealth(board, f"redis://:s3cret@127.0.0.1:{free_port()}/0",
                        prefix="hc-nowhere", retry_first=0.02)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(sync.run())
        await wait_until(lambda: sync.failed_attempts >= 4, within=10,
                         what="several failed connections")
        board.record_failure("mlx", NodeUnavailable("connection refused"))
        assert not board.would_allow("mlx")
        assert board.would_allow("ollama")
        task.cancel()
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "stays local" in warnings[0]
    assert "s3cret" not in caplog.text


async def test_a_redis_outage_degrades_to_local_health_and_heals(
        caplog: pytest.LogCaptureFixture) -> None:
    """Reports made during the outage reach the other replica once Redis is back."""
    caplog.set_level(logging.INFO, logger="inference.shared_health")
    redis_server = RedisProcess()
    redis_server.start()
    port = redis_server.port
    board_a, board_b = _board(), _board()
    sync_a = SharedHealth(board_a, redis_server.url, prefix="hc-outage", replica="a",
                          retry_first=0.05)
    sync_b = SharedHealth(board_b, redis_server.url, prefix="hc-outage", replica="b",
                          retry_first=0.05)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(sync.run()) for sync in (sync_a, sync_b)]
            async with asyncio.timeout(5):
                await sync_a.wait_connected()
                await sync_b.wait_connected()
            redis_server.stop()
            await wait_until(lambda: sync_a.failed_attempts > 1 and sync_b.failed_attempts > 1,
                             within=10, what="both syncs to notice the outage")
            board_a.record_failure("mlx", NodeUnavailable("connection refused"))
            assert not board_a.would_allow("mlx"), "local health goes on"
            assert board_b.would_allow("mlx")

            redis_server = RedisProcess(port=port)
            redis_server.start()
            async with asyncio.timeout(10):
                await board_b.wait_for(lambda board: not board.would_allow("mlx"))
            board_a.record_success("mlx")
            async with asyncio.timeout(1.0):
                await board_b.wait_for(lambda board: board.would_allow("mlx"))
            for task in tasks:
                task.cancel()
    finally:
        redis_server.stop()
    assert len(_warnings(caplog)) == 2, "one per replica"
    assert "Redis is back" in caplog.text
