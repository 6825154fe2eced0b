"""Answers that are valid JSON of the wrong shape, from OpenAI-compatible and Ollama nodes,
streamed and not, through the whole chain: each is a step error that falls through to the
next node and is recorded as a failure of the node that sent it."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.config import InferenceSettings
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ReplyDone, TextDelta
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, OpenAIStandin, Script, StandinServer

OPENAI_STREAMED = [
    'data: {"choices": 5}\n\n',
    "data: []\n\n",
    'data: {"choices": [5]}\n\n',
    'data: {"choices": [{"delta": ["x"]}]}\n\n',
    'data: {"choices": [{"delta": {"content": ["x"]}}]}\n\n',
    'data: {"choices": [{"delta": {"content": 5}}]}\n\n',
    'data: {"choices": [{"delta": "text"}]}\n\n',
    'data: {"message": "x"}\n\n',
    'data: {"choices": [{"delta": {"content": "ok"}}], "usage": 3}\n\ndata: [DONE]\n\n',
]
OPENAI_WHOLE = ['{"choices": 5}', "[]", '{"message": "x"}', '{"choices": [{"message": 5}]}']
OLLAMA_STREAMED = [
    '{"message": "x", "done": false}\n',
    "[]\n",
    '{"message": ["x"], "done": false}\n',
    '{"message": {"content": ["x"]}, "done": false}\n',
    '{"message": {"content": "a"}, "done": {"why": 1}}\n',
    '{"message": {"content": "a"}, "done": true, "done_reason": 7}\n',
]
OLLAMA_WHOLE = ['{"message": "x", "done": true}', "[]", '{"choices": 5}', "5"]

CASES = ([("openai", body) for body in OPENAI_STREAMED + OPENAI_WHOLE]
         + [("ollama", body) for body in OLLAMA_STREAMED + OLLAMA_WHOLE])


def settings_for(bad: StandinServer, kind: str, good: OpenAIStandin, tmp_path: Path
                 ) -> InferenceSettings:
    bad_url = bad.base_url + ("/v1" if kind == "openai" else "")
    return make_settings(
        nodes={"bad": {"kind": kind, "base_url": bad_url, "client": "native"},
               "good": {"kind": "openai", "base_url": good.base_url + "/v1"}},
        models={"shaky": {"node": "bad", "model": "qwen2.5:14b"},
                "steady": {"node": "good", "model": "qwen2.5:14b"}},
        routes={"r": ["shaky", "steady"]}, data_dir=tmp_path)


async def reply_of(stack: InferenceStack) -> tuple[str, ReplyDone]:
    text: list[str] = []
    done: ReplyDone | None = None
    request = ChatRequest(route="r", messages=[Message("user", "hello")])
    async for event in stack.stream(request):
        if isinstance(event, TextDelta):
            text.append(event.text)
        else:
            done = event
    assert done is not None
    return "".join(text), done


@pytest.mark.parametrize(("kind", "body"), CASES)
async def test_a_wrong_shape_falls_through_and_counts_against_the_node(
    tmp_path: Path, kind: str, body: str
) -> None:
    standin = OpenAIStandin if kind == "openai" else OllamaStandin
    async with (standin(script=Script.http_error(200, body=body.encode())) as bad,
                OpenAIStandin(script=Script(reply="from the good node")) as good):
        settings = settings_for(bad, kind, good, tmp_path)
        async with InferenceStack.open(settings, probes=False) as stack:
            text, done = await reply_of(stack)
            health = stack.health()["bad"]
    assert text == "from the good node"
    assert (done.node, done.fallback_depth) == ("good", 1)
    assert done.fell_back_from[0].startswith("shaky (unavailable: ")
    assert health.consecutive_failures == 1
    assert health.last_error is not None and health.last_error.startswith(
        ("openai stream error: malformed event", "ollama stream error: malformed event",
         "ollama stream error: expected a JSON object", "openai stream error: expected a JSON",
         "bad ended the stream before its end marker"))
