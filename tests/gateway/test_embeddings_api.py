"""OpenAI's embeddings request and answer shapes (``gateway.embeddings_api``): every bad
field named, token arrays refused, base64 as OpenAI's little-endian float32."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from gateway.embeddings_api import EmbedCall, parse_embeddings, render_embeddings
from gateway.errors import BadRequest, Unsupported
from inference.types import EmbedResult


def result(*vectors: tuple[float, ...], tokens: int = 7) -> EmbedResult:
    return EmbedResult(route="embed", node="ollama", model="ollama-embed",
                       upstream_model="nomic-embed-text", vectors=vectors,
                       prompt_tokens=tokens, cost_usd=0.0, latency_s=0.01, fallback_depth=0)


def test_a_string_or_a_list_of_strings_with_the_options() -> None:
    assert parse_embeddings({"model": "embed", "input": "hi"}) == EmbedCall("embed", ("hi",))
    call = parse_embeddings({"model": "embed", "input": ["a", "b"], "dimensions": 256,
                             "encoding_format": "base64", "user": "someone"})
    assert call == EmbedCall("embed", ("a", "b"), 256, "base64")
    assert parse_embeddings({"model": "m", "input": "x", "encoding_format": None,
                             "dimensions": None}) == EmbedCall("m", ("x",))


@pytest.mark.parametrize(("body", "param", "words"), [
    ([], None, "JSON object"),
    ({"input": "x"}, "model", "model: required"),
    ({"model": "", "input": "x"}, "model", "model: required"),
    ({"model": "m"}, "input", "input: required"),
    ({"model": "m", "input": []}, "input", "non-empty"),
    ({"model": "m", "input": ["a", 3.5]}, "input", "input[1]: expected a string, got float"),
    ({"model": "m", "input": ["a", ""]}, "input", "input[1]: an empty string"),
    ({"model": "m", "input": ["x"] * 2049}, "input", "at most 2048"),
    ({"model": "m", "input": "x", "dimensions": 0}, "dimensions", "at least 1"),
    ({"model": "m", "input": "x", "dimensions": "256"}, "dimensions", "an integer"),
    ({"model": "m", "input": "x", "dimensions": True}, "dimensions", "an integer"),
    ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format", "'int8'"),
])
def test_a_bad_field_is_named(body: Any, param: str | None, words: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_embeddings(body)
    assert raised.value.status == 400
    assert raised.value.param == param
    assert words in raised.value.message


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3]]])
def test_token_id_arrays_are_unsupported(tokens: list[Any]) -> None:
    with pytest.raises(Unsupported) as raised:
        parse_embeddings({"model": "m", "input": tokens})
    assert raised.value.param == "input"
    assert "token-id arrays" in raised.value.message


def test_an_unknown_parameter_is_named() -> None:
    with pytest.raises(Unsupported) as raised:
        parse_embeddings({"model": "m", "input": "x", "input_type": "query"})
    assert raised.value.param == "input_type"


def test_the_answer_in_openais_shape_with_the_name_the_client_sent() -> None:
    body = render_embeddings(EmbedCall("my-embeddings", ("a", "b")),
                             result((0.5, -0.25), (1.0, 0.0), tokens=3))
    assert body == {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
                 {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}],
        "model": "my-embeddings",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }


def test_base64_is_little_endian_float32() -> None:
    vector = (0.1, -2.5, 3.0e-8)
    body = render_embeddings(EmbedCall("m", ("a",), encoding_format="base64"), result(vector))
    raw = base64.b64decode(body["data"][0]["embedding"])
    assert len(raw) == 12
    assert struct.unpack("<3f", raw) == pytest.approx(vector, rel=1e-6)
