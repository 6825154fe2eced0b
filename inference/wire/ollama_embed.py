"""Ollama's embeddings API (``POST /api/embed``), one JSON request and answer.

Request ``{"model", "input": [texts], "dimensions"?}``; answer ``{"model", "embeddings":
[[floats], …], "total_duration", "load_duration", "prompt_eval_count"}``, the vectors in
input order. (The older ``/api/embeddings``, one prompt a call, is not used.)
"""

from __future__ import annotations

from typing import Any

from inference.step import Embedded, Step
from inference.types import EmbedRequest
from inference.wire._base import WireModel, embedded, parse_event

__all__ = ["OllamaEmbed"]


class _Answer(WireModel):
    embeddings: list[list[float]]
    prompt_eval_count: int | None = None


class OllamaEmbed:
    name = "ollama"

    def path(self) -> str:
        return "/api/embed"

    def body(self, step: Step, request: EmbedRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": step.upstream_model, "input": list(request.inputs)}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        return body

    def read(self, data: bytes, request: EmbedRequest) -> Embedded:
        answer = parse_event(_Answer, data)
        return embedded(request, answer.embeddings, answer.prompt_eval_count)
