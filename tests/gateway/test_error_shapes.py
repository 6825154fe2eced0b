"""Error answers as ``curl`` sees them: status, OpenAI's (or Anthropic's) shape, the field
or names they carry; never a stack trace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gateway.access import Grant
from inference.config import InferenceSettings
from tests.gateway.conftest import Nodes
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.standins import Script

HI = [{"role": "user", "content": "hi"}]


async def curl(url: str, *args: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    argv = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", url, *args]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary",
                 body if isinstance(body, str) else json.dumps(body)]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text, _, status = out.decode().rpartition("\n")
    assert "Traceback" not in text
    return int(status), json.loads(text)


def openai_error(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(("extra", "param"), [
    ({"temperature": "hot"}, "temperature"),
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
    ({"frobnicate": 1}, "frobnicate"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
])
async def test_a_bad_field_is_a_400_naming_it(gw: RunningGateway, extra: dict[str, Any],
                                              param: str) -> None:
    status, body = await curl(f"{gw.v1}/chat/completions",
                              body={"model": "smart-agent", "messages": HI, **extra})
    error = openai_error(body)
    assert status == 400
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and param in error["message"]


async def test_harmless_parameters_are_accepted(gw: RunningGateway) -> None:
    status, body = await curl(f"{gw.v1}/chat/completions", body={
        "model": "smart-agent", "messages": HI, "user": "u1", "metadata": {"a": "b"},
        "n": 1, "presence_penalty": 0, "store": False})
    assert status == 200 and body["choices"][0]["message"]["content"] == "from mlx"


async def test_invalid_json_is_a_400(gw: RunningGateway) -> None:
    status, body = await curl(f"{gw.v1}/chat/completions", body="{not json")
    assert status == 400 and openai_error(body)["param"] == "body"


async def test_unknown_model_is_a_404_listing_the_valid_names(gw: RunningGateway) -> None:
    status, body = await curl(f"{gw.v1}/chat/completions",
                              body={"model": "gpt-9", "messages": HI})
    error = openai_error(body)
    assert status == 404 and error["code"] == "model_not_found" and error["param"] == "model"
    for name in ("smart-agent", "chief-monitor", "mlx-qwen", "claude-haiku", "nellie"):
        assert name in error["message"]


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_limit_is_a_413(gw: RunningGateway, tmp_path: Path,
                                              chunked: bool) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"model": "smart-agent",
                               "messages": [{"role": "user", "content": "x" * 70_000}]}))
    args = ["-H", "Content-Type: application/json", "--data-binary", f"@{big}"]
    if chunked:
        args += ["-H", "Transfer-Encoding: chunked"]
    status, body = await curl(f"{gw.v1}/chat/completions", *args)
    assert status == 413
    assert "max_body_bytes" in openai_error(body)["message"]


async def test_no_step_answering_is_a_503_listing_each_step(gw: RunningGateway,
                                                            nodes: Nodes) -> None:
    for node in (nodes.mlx, nodes.ollama, nodes.anthropic):
        node.script = Script.http_error(503)
    status, body = await curl(f"{gw.v1}/chat/completions",
                              body={"model": "smart-agent", "messages": HI})
    error = openai_error(body)
    assert status == 503 and error["type"] == "service_unavailable"
    for step in ("mlx-qwen@mlx", "ollama-qwen@ollama", "claude-sonnet@anthropic"):
        assert step in error["message"]


async def test_a_streamed_call_that_fails_before_its_first_token_gets_a_status(
        gw: RunningGateway, nodes: Nodes) -> None:
    for node in (nodes.mlx, nodes.ollama, nodes.anthropic):
        node.script = Script.http_error(503)
    status, body = await curl(f"{gw.v1}/chat/completions",
                              body={"model": "smart-agent", "messages": HI, "stream": True})
    assert status == 503 and "mlx-qwen" in openai_error(body)["message"]


async def test_unknown_paths_answer_in_the_shape_of_their_api(gw: RunningGateway) -> None:
    status, body = await curl(f"{gw.v1}/nothing-here")
    assert status == 404 and openai_error(body)["type"] == "invalid_request_error"
    status, body = await curl(f"{gw.v1}/messages/nothing-here", body={"model": "smart-agent"})
    assert status == 404
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}


async def test_health_shows_nodes_and_what_each_route_serves(gw: RunningGateway) -> None:
    status, body = await curl(f"{gw.url}/health")
    assert status == 200 and body["status"] == "ok"
    assert body["routes"]["smart-agent"]["serving"] == "mlx-qwen"
    assert [s["model"] for s in body["routes"]["smart-agent"]["steps"]] == [
        "mlx-qwen", "ollama-qwen", "claude-sonnet"]
    assert set(body["nodes"]) == {"mlx", "ollama", "anthropic"}


class ScopedGate:
    """Admits every request as a key scoped to the chief-monitor route."""

    async def admit(self, headers: Mapping[str, str]) -> Grant:
        return Grant("ci", frozenset({"chief-monitor"}))


async def test_a_key_scoped_elsewhere_gets_a_403_and_sees_only_its_models(
        settings: InferenceSettings) -> None:
    async with running_gateway(settings, gate=ScopedGate()) as scoped:
        status, body = await curl(f"{scoped.v1}/chat/completions",
                                  body={"model": "smart-agent", "messages": HI})
        assert status == 403 and openai_error(body)["type"] == "permission_error"
        status, body = await curl(f"{scoped.v1}/chat/completions",
                                  body={"model": "claude-haiku", "messages": HI})
        assert status == 200
        status, body = await curl(f"{scoped.v1}/models")
        assert {m["id"] for m in body["data"]} == {"chief-monitor", "mlx-qwen", "claude-haiku"}
