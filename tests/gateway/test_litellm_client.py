"""LiteLLM itself as a client of the gateway (``openai/<model>`` at ``api_base``)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tests.gateway.conftest import Nodes
from tests.support.gateway import RunningGateway
from tests.support.standins import Script, ScriptedCall

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no price-map fetch
import litellm

HI = [{"role": "user", "content": "hello"}]


async def test_litellm_completion_gets_the_chains_answer(gw: RunningGateway) -> None:
    reply: Any = await asyncio.to_thread(
        litellm.completion, model="openai/smart-agent", api_base=gw.v1, api_key="unused",
        messages=HI)
    assert reply.choices[0].message.content == "from mlx"
    assert reply.usage.total_tokens > 0


async def test_litellm_streams_and_reassembles_tool_calls(gw: RunningGateway,
                                                          nodes: Nodes) -> None:
    nodes.mlx.queue(Script(reply="ok ", tool_calls=[
        ScriptedCall("lookup", {"q": "x"}, id="call_9")]))
    stream: Any = await litellm.acompletion(
        model="openai/nellie", api_base=gw.v1, api_key="unused", messages=HI, stream=True,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}}}}])
    chunks = [chunk async for chunk in stream]
    rebuilt: Any = litellm.stream_chunk_builder(chunks, messages=HI)
    message = rebuilt.choices[0].message
    assert message.content == "ok "
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("call_9", "lookup", '{"q": "x"}')]
