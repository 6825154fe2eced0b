"""Reuse of earlier prompts' KV caches (compute thread only).

An agent conversation resends its system prompt and history on every turn; keeping the
KV cache of finished requests lets the next turn prefill only what is new. This wraps
``mlx_lm``'s ``LRUPromptCache`` (the trie + LRU that ``mlx_lm.server`` uses), bounded per
model by entries and bytes, and dropped with the model when it is evicted.
"""

from __future__ import annotations

from typing import Any

from mlx_lm.models.cache import LRUPromptCache, can_trim_prompt_cache, trim_prompt_cache

__all__ = ["PrefixCache"]


class PrefixCache:
    def __init__(self, size: int, max_bytes: int) -> None:
        enabled = size > 0 and max_bytes > 0
        self._cache = LRUPromptCache(max_size=size, max_bytes=max_bytes) if enabled else None

    @property
    def nbytes(self) -> int:
        return int(self._cache.nbytes) if self._cache is not None else 0

    def lookup(self, prompt: list[int]) -> tuple[list[Any] | None, list[int]]:
        """A copy of the cache of the longest known prefix, and the tokens still to prefill.

        At least one token is always left to prefill (the generator needs an input).
        """
        if self._cache is None:
            return None, prompt
        cache, rest = self._cache.fetch_nearest_cache("model", prompt)
        if cache is None:
            return None, prompt
        if not rest:
            if not can_trim_prompt_cache(cache):
                return None, prompt
            trim_prompt_cache(cache, 1)
            rest = prompt[-1:]
        return cache, list(rest)

    def store(self, tokens: list[int], cache: list[Any]) -> None:
        """Keep the KV cache of a finished sequence (``tokens`` are the ones it holds)."""
        if self._cache is not None and tokens:
            self._cache.insert_cache("model", list(tokens), cache)

    def clear(self) -> None:
        if self._cache is not None:
            self._cache.trim_to(n_sequences=0)
