"""Shared helpers of the benchmark scripts: timing statistics, requests, a loopback guard.

The scripts put the repository root on ``sys.path`` before importing this module (so that
``tests.support`` imports work when run as ``python bench/<script>.py``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inference.config import HealthConfig, InferenceSettings, LedgerConfig
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ReplyDone, TextDelta
from tests.support.network_guard import loopback_only

__all__ = [
    "PRODUCT_HEALTH",
    "PRODUCT_LEDGER",
    "Outcome",
    "Stats",
    "ask",
    "drain",
    "emit_json",
    "loopback_only",
    "ms",
    "offline_env",
    "percentile",
    "plain_deployments",
    "quiet_logs",
    "timed_drain",
]

# The product's defaults (tests.support.stack.make_settings shortens them for tests).
PRODUCT_HEALTH: dict[str, Any] = HealthConfig().model_dump()
PRODUCT_LEDGER: dict[str, Any] = {"flush_interval": LedgerConfig().flush_interval}
_PROVIDER_PREFIX = {"openai": "openai", "ollama": "ollama_chat", "anthropic": "anthropic"}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of a series of durations, in seconds."""

    count: int
    total: float
    p50: float
    p99: float
    max: float
    min: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        return cls(len(values), sum(values), percentile(values, 50), percentile(values, 99),
                   max(values), min(values))

    def line_ms(self) -> str:
        return (f"n={self.count} p50={ms(self.p50):.2f} ms p99={ms(self.p99):.2f} ms "
                f"min={ms(self.min):.2f} ms max={ms(self.max):.2f} ms")


def ms(seconds: float) -> float:
    return seconds * 1000.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request as the caller saw it."""

    seconds: float
    text: str
    done: ReplyDone


def ask(text: str, route: str, *, use_cache: bool = False, stream: bool = True) -> ChatRequest:
    return ChatRequest(route=route, messages=[Message("user", text)], agent="bench",
                       use_cache=use_cache, stream=stream)


async def drain(stack: InferenceStack, request: ChatRequest) -> tuple[str, ReplyDone]:
    """Iterate the whole reply stream; the text and the final record."""
    parts: list[str] = []
    done: ReplyDone | None = None
    async for event in stack.stream(request):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, ReplyDone):
            done = event
    if done is None:
        raise RuntimeError("the stream ended without a final record")
    return "".join(parts), done


async def timed_drain(stack: InferenceStack, request: ChatRequest) -> Outcome:
    started = time.perf_counter()
    text, done = await drain(stack, request)
    return Outcome(time.perf_counter() - started, text, done)


def plain_deployments(
    settings: InferenceSettings, route: str
) -> tuple[list[dict[str, Any]], list[dict[str, list[str]]]]:
    """A plain ``litellm.Router``'s ``model_list`` and ``fallbacks`` for ``route``.

    Shaped like a LiteLLM proxy config: the route name is the primary's model group and the
    remaining steps are its fallbacks, with the same upstream endpoints as ``settings``.
    """
    steps = settings.routes[route]
    model_list: list[dict[str, Any]] = []
    for index, alias in enumerate(steps):
        model = settings.models[alias]
        node = settings.nodes[model.node]
        params: dict[str, Any] = {"model": f"{_PROVIDER_PREFIX[node.kind]}/{model.model}"}
        if node.base_url:
            params["api_base"] = node.base_url
        if node.api_key is not None:
            params["api_key"] = node.api_key.get_secret_value()
        elif node.kind == "openai":
            params["api_key"] = "none"
        model_list.append({"model_name": route if index == 0 else alias,
                           "litellm_params": params})
    return model_list, [{route: list(steps[1:])}]


def offline_env() -> dict[str, str]:
    """Environment for child processes: nothing may fetch from the internet."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False"}


def quiet_logs() -> None:
    logging.basicConfig(level=logging.ERROR)
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx", "aiohttp"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def emit_json(figures: Mapping[str, Any]) -> None:
    """The machine-readable result: always the last line of the output."""
    print(json.dumps(dict(figures)), flush=True)
