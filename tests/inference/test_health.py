"""Circuit breaker and probes: open nodes cost nothing, recovery is noticed quickly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inference.config import HealthConfig
from inference.errors import NodeTimeout, NodeUnavailable
from inference.health import CircuitState, HealthBoard
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, OpenAIStandin, Script


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def board(threshold: int = 3, cooldown: float = 10) -> tuple[HealthBoard, FakeClock]:
    clock = FakeClock()
    config = HealthConfig(failure_threshold=threshold, cooldown=cooldown)
    return HealthBoard(config, ["mlx", "ollama"], clock=clock), clock


def test_timeout_opens_at_once_other_failures_after_threshold() -> None:
    health, _ = board(threshold=3)
    health.record_failure("mlx", NodeUnavailable("500"))
    health.record_failure("mlx", NodeUnavailable("500"))
    assert health.get("mlx").state is CircuitState.CLOSED
    health.record_failure("mlx", NodeUnavailable("500"))
    assert health.get("mlx").state is CircuitState.OPEN
    health.record_failure("ollama", NodeTimeout("slow"))
    assert health.get("ollama").state is CircuitState.OPEN


def test_half_open_admits_one_trial_after_cooldown() -> None:
    health, clock = board(cooldown=10)
    health.record_failure("mlx", NodeTimeout("slow"))
    assert not health.acquire("mlx")
    clock.now += 10
    assert health.would_allow("mlx")
    assert health.acquire("mlx")  # the trial
    assert health.get("mlx").state is CircuitState.HALF_OPEN
    assert not health.acquire("mlx")  # only one at a time
    health.record_failure("mlx", NodeUnavailable("still down"))
    assert health.get("mlx").state is CircuitState.OPEN
    clock.now += 10
    assert health.acquire("mlx")
    health.record_success("mlx")
    assert health.get("mlx").state is CircuitState.CLOSED
    assert health.acquire("mlx")


def test_probes_close_and_open() -> None:
    health, _ = board()
    health.record_probe("mlx", False, None, "connection refused")
    assert health.get("mlx").state is CircuitState.OPEN
    assert "connection refused" in (health.get("mlx").last_error or "")
    health.record_probe("mlx", True, 0.01, "2 model(s) listed")
    assert health.get("mlx").state is CircuitState.CLOSED
    assert health.get("mlx").probe_latency_s == pytest.approx(0.01)


async def test_recovery_is_noticed_by_probes(tmp_path: Path) -> None:
    """A node that goes away is skipped; when it returns, probes bring it back quickly."""
    async with OllamaStandin(script=Script(reply="from ollama")) as ollama:
        mlx = OpenAIStandin(script=Script(reply="from mlx"))
        await mlx.start()
        port = mlx.port
        settings = make_settings(
            nodes={"mlx": {"kind": "openai", "base_url": f"{mlx.base_url}/v1"},
                   "ollama": {"kind": "ollama", "base_url": ollama.base_url}},
            models={"m": {"node": "mlx", "model": "mlx-community/Qwen2.5-14B-Instruct-4bit"},
                    "o": {"node": "ollama", "model": "qwen2.5:14b"}},
            routes={"smart-agent": ["m", "o"]},
            data_dir=tmp_path,
        )
        request = ChatRequest(route="smart-agent", messages=[Message("user", "hi")],
                              use_cache=False)
        async with InferenceStack.open(settings) as stack:
            assert (await stack.complete(request)).node == "mlx"
            await mlx.stop()
            async with asyncio.timeout(5):
                await stack.board.wait_for(lambda b: not b.get("mlx").up)
            assert stack.route_status("smart-agent").serving == "o"
            assert (await stack.complete(request)).node == "ollama"

            revived = OpenAIStandin(script=Script(reply="from mlx again"), port=port)
            await revived.start()
            try:
                loop = asyncio.get_running_loop()
                back_at = loop.time()
                async with asyncio.timeout(10):
                    await stack.board.wait_for(lambda b: b.get("mlx").up)
                assert loop.time() - back_at < 10
                done = await stack.complete(request)
                assert (done.node, done.text) == ("mlx", "from mlx again")
            finally:
                await revived.stop()
