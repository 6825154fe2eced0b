"""The chain against a real `mlx_lm.server` serving a tiny model built offline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, TextDelta
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, Script
from tests.support.tiny_mlx import MlxLmServer


@pytest.mark.parametrize("client", ["native", "litellm"])
async def test_streams_from_real_mlx_server(mlx_server: MlxLmServer, tmp_path: Path,
                                            client: str) -> None:
    async with OllamaStandin(script=Script(reply="backup")) as ollama:
        settings = make_settings(
            nodes={"mlx": {"kind": "openai", "base_url": mlx_server.base_url, "client": client},
                   "ollama": {"kind": "ollama", "base_url": ollama.base_url}},
            models={"mlx-qwen": {"node": "mlx", "model": mlx_server.model_id},
                    "ollama-qwen": {"node": "ollama", "model": "qwen2.5:14b"}},
            routes={"smart-agent": ["mlx-qwen", "ollama-qwen"]},
            data_dir=tmp_path,
        )
        request = ChatRequest(route="smart-agent", messages=[Message("user", "hello there")],
                              max_tokens=12, temperature=0.0, agent="skip", use_cache=False)
        async with InferenceStack.open(settings) as stack:
            async with asyncio.timeout(30):  # probes run alongside, not before, the work
                await stack.board.wait_for(lambda b: b.get("mlx").probe_ok is not None)
            assert stack.health()["mlx"].probe_ok is True
            deltas = [e.text async for e in stack.stream(request) if isinstance(e, TextDelta)]
            done = await stack.complete(request)
            again = await stack.complete(ChatRequest(
                route="smart-agent", messages=[Message("user", "hello there")], max_tokens=12,
                temperature=0.0, stream=False, use_cache=False))
    # how many pieces depends on how the tokens meet the socket reads (one read's text goes
    # on as one piece); paced streaming is checked against the stand-ins
    assert deltas and "".join(deltas).strip()
    assert (done.node, done.fallback_depth, done.interrupted) == ("mlx", 0, None)
    assert done.completion_tokens == 12  # the server's own usage count, not an estimate
    assert done.prompt_tokens > 0
    assert again.text == done.text  # greedy decoding of the same model is deterministic
    assert ollama.requests_to("/api/chat") == []
