"""Which client speaks to which node: ``NodeConfig.client``, :func:`uses_native_client`,
:class:`NodeCaller` dispatch, and a stack of local nodes that never loads LiteLLM."""

from __future__ import annotations

import asyncio
import sys
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from inference._litellm import LiteLLMCaller
from inference.config import InferenceSettings, NodeConfig
from inference.native import USER_AGENT, NativeCaller, NodeCaller, uses_native_client
from inference.node_http import NodeHttp
from inference.step import Chunk, Step, StepCaller
from inference.types import ChatRequest, Message
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, OpenAIStandin, Script

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("node", "native"), [
    ({"kind": "openai"}, True),
    ({"kind": "ollama"}, True),
    ({"kind": "anthropic"}, False),
    ({"kind": "anthropic", "cloud": False}, False),  # no native Anthropic protocol
    ({"kind": "openai", "cloud": True}, False),  # a cloud node goes through LiteLLM on auto
    ({"kind": "openai", "client": "litellm"}, False),
    ({"kind": "ollama", "client": "litellm"}, False),
    ({"kind": "anthropic", "client": "litellm"}, False),
    ({"kind": "openai", "client": "native"}, True),
    ({"kind": "ollama", "client": "native"}, True),
    ({"kind": "openai", "cloud": True, "client": "native"}, True),
])
def test_uses_native_client(node: dict[str, Any], native: bool) -> None:
    config = NodeConfig.model_validate({"base_url": "http://127.0.0.1:1", **node})
    assert uses_native_client(config) is native


def test_client_defaults_to_auto() -> None:
    assert NodeConfig(kind="ollama", base_url="http://127.0.0.1:1").client == "auto"


@pytest.mark.parametrize(("node", "message"), [
    ({"kind": "anthropic", "client": "native"}, "openai and ollama protocols only"),
    ({"kind": "openai", "base_url": "http://127.0.0.1:1", "client": "httpx"}, "client"),
])
def test_client_validation(node: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NodeConfig.model_validate(node)


def two_clients_settings(url: str, data_dir: Path) -> InferenceSettings:
    """One OpenAI-compatible server behind two nodes: one native, one through LiteLLM."""
    return make_settings(
        nodes={"native": {"kind": "openai", "base_url": url},
               "routed": {"kind": "openai", "base_url": url, "client": "litellm"}},
        models={"a": {"node": "native", "model": "m"}, "b": {"node": "routed", "model": "m"}},
        routes={"r": ["a", "b"]}, data_dir=data_dir)


def step_of(settings: InferenceSettings, alias: str) -> Step:
    model = settings.models[alias]
    return Step("r", 0, alias, model.node, settings.nodes[model.node], model,
                settings.step_timeouts("r", alias))


async def reply(caller: StepCaller, step: Step) -> str:
    request = ChatRequest(route="r", messages=[Message("user", "hi")])
    async with aclosing(caller.stream(step, request)) as events:
        return "".join([e.text async for e in events if isinstance(e, Chunk)])


async def test_node_caller_dispatches_by_client(tmp_path: Path) -> None:
    async with NodeHttp.open() as http, OpenAIStandin(script=Script(reply="hi")) as server:
        settings = two_clients_settings(server.base_url + "/v1", tmp_path)
        litellm = LiteLLMCaller(settings)
        try:
            both = NodeCaller(NativeCaller(http), litellm)
            texts = [await reply(both, step_of(settings, alias)) for alias in ("a", "b")]
        finally:
            await litellm.aclose()
    assert texts == ["hi", "hi"]
    agents = [r.headers.get("User-Agent", "") for r in server.requests]
    assert agents[0] == USER_AGENT and agents[1] != USER_AGENT


async def test_node_caller_without_litellm_refuses_a_litellm_node(tmp_path: Path) -> None:
    settings = two_clients_settings("http://127.0.0.1:1/v1", tmp_path)
    request = ChatRequest(route="r", messages=[Message("user", "hi")])
    async with NodeHttp.open() as http:
        with pytest.raises(AssertionError, match="'routed' needs LiteLLM"):
            NodeCaller(NativeCaller(http), None).stream(step_of(settings, "b"), request)


_CHILD = """
import asyncio, sys
from inference.config import InferenceSettings
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message

async def main() -> None:
    settings = InferenceSettings.model_validate_json(sys.argv[1])
    async with InferenceStack.open(settings, probes=False) as stack:
        done = await stack.complete(ChatRequest(route="r", messages=[Message("user", "hi")]))
        await stack.ledger.flush()
        db = await stack.database()
        worth = await db.fetchval("SELECT MAX(cloud_equivalent_usd) FROM ledger")
    print(done.text, worth > 0, "litellm" in sys.modules)

asyncio.run(main())
"""


async def test_all_local_stack_never_loads_litellm(tmp_path: Path) -> None:
    # The reference model is priced from LiteLLM's bundled price map, which is read as
    # data: the lookup does not import LiteLLM.
    async with OpenAIStandin(script=Script(reply="local only")) as mlx, OllamaStandin() as ol:
        settings = make_settings(
            nodes={"mlx": {"kind": "openai", "base_url": mlx.base_url + "/v1"},
                   "ollama": {"kind": "ollama", "base_url": ol.base_url}},
            models={"q": {"node": "mlx", "model": "m"},
                    "o": {"node": "ollama", "model": "qwen2.5:14b"}},
            routes={"r": ["q", "o"]}, ledger={"reference_model": "claude-sonnet-4-5"},
            data_dir=tmp_path)
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CHILD, settings.model_dump_json(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
        out, err = await child.communicate()
    assert child.returncode == 0, err.decode()[-2000:]
    assert out.decode().split() == ["local", "only", "True", "False"]
