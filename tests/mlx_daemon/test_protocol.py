"""Request validation into a GenerationRequest, and the response objects."""

from __future__ import annotations

import json

import pytest

from mlx_daemon.errors import ApiError
from mlx_daemon.protocol import (
    CompletionIdentity,
    Usage,
    chunk,
    parse_chat_request,
    sse,
    usage_chunk,
)


def test_request_fields_are_normalised() -> None:
    request = parse_chat_request({
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"},
                                         {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": None, "name": "bot"},
        ],
        "max_tokens": 10, "max_completion_tokens": 7, "stop": "END", "seed": 3,
        "stream": True, "stream_options": {"include_usage": True}, "user": "ignored",
        "logit_bias": {"5": -100},
    })  # fmt: skip
    assert request.messages == (
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": "", "name": "bot"},
    )
    assert request.max_tokens == 7
    assert request.stop == ("END",)
    assert request.temperature == 1.0
    assert (request.stream, request.include_usage, request.seed) == (True, True, 3)
    assert request.logit_bias == {5: -100.0}


def test_too_many_stop_sequences_is_rejected() -> None:
    with pytest.raises(ApiError) as caught:
        parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "x"}],
                            "stop": ["a", "b", "c", "d", "e"]})  # fmt: skip
    assert caught.value.status == 400
    assert caught.value.param == "stop"


def test_chunks_and_sse_framing() -> None:
    ident = CompletionIdentity(model="m", fingerprint="fp")
    first = chunk(ident, {"role": "assistant", "content": ""}, include_usage=True)
    assert first["usage"] is None
    assert "usage" not in chunk(ident, {"content": "x"})
    last = usage_chunk(ident, Usage(3, 2))
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    framed = sse(first)
    assert framed.startswith(b"data: {") and framed.endswith(b"\n\n")
    assert json.loads(framed[6:]) == first
    assert sse("[DONE]") == b"data: [DONE]\n\n"
