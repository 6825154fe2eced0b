"""OpenAI's embeddings API (``POST {base_url}/embeddings``), one JSON request and answer.

Request ``{"model", "input": [texts], "encoding_format": "float", "dimensions"?}``; answer
``{"object": "list", "data": [{"object": "embedding", "index", "embedding": [floats]}],
"model", "usage": {"prompt_tokens", "total_tokens"}}``. The items are put in ``index``
order; the indexes must be exactly ``0..n-1``. ``base_url`` ends in ``/v1`` like the chat
protocol's (``…/v1/embeddings``).
"""

from __future__ import annotations

from typing import Any

from inference.step import Embedded, Step
from inference.types import EmbedRequest
from inference.wire._base import WireError, WireModel, embedded, parse_event

__all__ = ["OpenAIEmbed"]


class _Item(WireModel):
    index: int
    embedding: list[float]


class _Counts(WireModel):
    prompt_tokens: int | None = None


class _Answer(WireModel):
    data: list[_Item]
    usage: _Counts | None = None


class OpenAIEmbed:
    name = "openai"

    def path(self) -> str:
        return "/embeddings"

    def body(self, step: Step, request: EmbedRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": step.upstream_model, "input": list(request.inputs),
                                "encoding_format": "float"}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        return body

    def read(self, data: bytes, request: EmbedRequest) -> Embedded:
        answer = parse_event(_Answer, data)
        items = sorted(answer.data, key=lambda item: item.index)
        if [item.index for item in items] != list(range(len(items))):
            raise WireError("data: the indexes are not 0..n-1, each once")
        counts = answer.usage or _Counts()
        return embedded(request, [item.embedding for item in items], counts.prompt_tokens)
