"""Probe loops: a circuit that opens wakes its node's probe; recovery is noticed quickly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inference.health import CircuitState
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, OpenAIStandin, Script


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
