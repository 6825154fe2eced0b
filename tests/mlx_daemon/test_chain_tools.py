"""homecrew's chain speaking to its own daemon about tools, through the real HTTP API:
the daemon's parsed tool calls arrive as typed calls, and a model without a tool template
(400 ``tools_unsupported``) hands the request to the next step of the route."""

from __future__ import annotations

from pathlib import Path

from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ModelToolCall, ReplyDone, TextDelta, ToolFunction
from tests.mlx_daemon.support import daemon_settings, running
from tests.support.stack import make_settings

TOOLS = (
    ToolFunction("get_weather", "Current weather in a city", {
        "type": "object", "properties": {"city": {"type": "string"},
                                         "unit": {"type": "string"}}, "required": ["city"]}),
    ToolFunction("get_time", "Local time in a time zone", {
        "type": "object", "properties": {"zone": {"type": "string"}}}),
)


async def ask(url: str, tmp_path: Path, route: list[str]
              ) -> tuple[str, list[ModelToolCall], ReplyDone]:
    settings = make_settings(
        nodes={"mac": {"kind": "openai", "base_url": url}},
        models={name: {"node": "mac", "model": name} for name in route},
        routes={"r": route}, data_dir=tmp_path / "data")
    request = ChatRequest(route="r", tools=TOOLS, max_tokens=32, temperature=0,
                          messages=(Message("user", "What is the weather and the time in Paris?"),))
    text: list[str] = []
    calls: list[ModelToolCall] = []
    done = None
    async with InferenceStack.open(settings, probes=False) as stack:
        async for event in stack.stream(request):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ModelToolCall):
                calls.append(event)
            else:
                done = event
    assert done is not None
    return "".join(text), calls, done


async def test_the_daemons_tool_calls_arrive_typed(
    tool_models: dict[str, Path], tmp_path: Path
) -> None:
    async with running(daemon_settings(tool_models, tmp_path)) as (server, _):
        text, calls, done = await ask(server.base_url, tmp_path, ["tiny-tools"])
    assert text == "Let me check the weather."
    assert [(c.name, c.decoded()) for c in calls] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_time", {"zone": "Europe/Paris"})]
    assert all(c.id.startswith("call_") for c in calls)
    assert done.finish_reason == "tool_calls" and done.tool_calls == tuple(calls)


async def test_a_model_without_tools_hands_over_to_the_next_step(
    tool_models: dict[str, Path], models: dict[str, Path], tmp_path: Path
) -> None:
    both = {**models, **tool_models}
    async with running(daemon_settings(both, tmp_path)) as (server, _):
        _, calls, done = await ask(server.base_url, tmp_path, ["tiny-a", "tiny-tools"])
    assert done.model == "tiny-tools" and len(calls) == 2
    assert done.fell_back_from[0].startswith("tiny-a (tools_unsupported: ")
