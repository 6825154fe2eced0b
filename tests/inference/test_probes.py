"""Probe loops: a circuit that opens wakes its node's probe; recovery is noticed quickly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from inference.health import CircuitState
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message
from tests.support.stack import make_settings
from tests.support.standins import BlackholeServer, OllamaStandin, OpenAIStandin, Script


def ask(index: int) -> ChatRequest:
    return ChatRequest(route="smart-agent", messages=[Message("user", f"question {index}")],
                       use_cache=False)


async def test_a_node_that_dies_between_probes_is_probed_at_once_and_used_again(
    tmp_path: Path,
) -> None:
    """The "up" interval is far longer than the test may take: only the wake-up on the
    circuit opening gets the dead node probed, and only the open interval gets it back."""
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
            health={"failure_threshold": 1, "cooldown": 3600, "probe_interval": 3600,
                    "probe_interval_open": 0.1},
        )
        async with InferenceStack.open(settings) as stack:
            async with asyncio.timeout(10):
                await stack.board.wait_for(lambda b: b.get("mlx").probe_ok is True)
            assert (await stack.complete(ask(0))).node == "mlx"

            await mlx.stop()
            died = await stack.complete(ask(1))
            assert died.node == "ollama", "the request failure falls through"
            assert stack.board.get("mlx").state is CircuitState.OPEN
            async with asyncio.timeout(10):
                await stack.board.wait_for(lambda b: b.get("mlx").probe_ok is False)
            assert (await stack.complete(ask(2))).node == "ollama"

            revived = OpenAIStandin(script=Script(reply="from mlx again"), port=port)
            await revived.start()
            try:
                async with asyncio.timeout(10):
                    await stack.board.wait_for(
                        lambda b: b.get("mlx").state is CircuitState.HALF_OPEN)
                back = await stack.complete(ask(3))
                assert (back.node, back.text) == ("mlx", "from mlx again")
                assert stack.board.get("mlx").state is CircuitState.CLOSED
            finally:
                await revived.stop()


async def test_a_probe_outlived_by_a_stalled_event_loop_is_run_again_not_counted(
    tmp_path: Path,
) -> None:
    """A blocking import at start-up stalls the loop past the probe's deadline: the node
    did nothing wrong, so the probe is repeated instead of failing it."""
    async with OpenAIStandin(script=Script(reply="hi")) as mlx:
        settings = make_settings(
            nodes={"mlx": {"kind": "openai", "base_url": f"{mlx.base_url}/v1"}},
            models={"m": {"node": "mlx", "model": "qwen"}}, routes={"smart-agent": ["m"]},
            data_dir=tmp_path, health={"probe_timeout": 0.3})
        async with InferenceStack.open(settings, probes=False) as stack:
            asyncio.get_running_loop().call_soon(time.sleep, 1.0)  # the loop, not the node
            result = await stack.prober.probe("mlx")
            assert result.ok, result.detail
            assert mlx.requests_to("/v1/models")  # answered by the node, once asked again


async def test_a_node_that_never_answers_still_fails_its_probe_in_time(
    tmp_path: Path,
) -> None:
    async with BlackholeServer() as hung:
        settings = make_settings(
            nodes={"mlx": {"kind": "openai", "base_url": f"{hung.base_url}/v1"}},
            models={"m": {"node": "mlx", "model": "qwen"}}, routes={"smart-agent": ["m"]},
            data_dir=tmp_path, health={"probe_timeout": 0.3})
        async with InferenceStack.open(settings, probes=False) as stack:
            started = time.perf_counter()
            result = await stack.prober.probe("mlx")
    assert (result.ok, result.detail) == (False, "no answer within 0.3s")
    assert time.perf_counter() - started < 1.0  # not run again: the loop was not stalled
