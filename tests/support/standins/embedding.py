"""Deterministic embedding vectors for the stand-ins' embeddings endpoints.

The same text always gives the same unit vector (from its SHA-256), so a test can compute
what a node answers: :func:`embedding_of`. Asked for fewer ``dimensions`` than the model's
size, the vector is cut and scaled back to unit length, as OpenAI's ``text-embedding-3``
models (and Ollama's ``dimensions``) do.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from .script import count_words

__all__ = ["DEFAULT_SIZE", "embedding_of", "input_texts", "prompt_tokens"]

DEFAULT_SIZE = 16


def embedding_of(text: str, size: int = DEFAULT_SIZE, dimensions: int | None = None
                 ) -> list[float]:
    """The stand-in model's vector of ``text``: ``size`` numbers, or the first
    ``dimensions`` of them, of unit length."""
    raw = bytearray()
    counter = 0
    while len(raw) < size:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [byte / 127.5 - 1.0 for byte in raw[:size]][:dimensions or size]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def input_texts(value: Any) -> list[str] | None:
    """``input`` as a list of texts (a string or a list of strings), or ``None``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def prompt_tokens(texts: list[str], override: int | None) -> int:
    """The reported token count: the script's, else a word count (at least 1)."""
    return override if override is not None else max(1, count_words(texts))
