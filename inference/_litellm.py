"""The only module that imports LiteLLM: an embedded ``litellm.Router`` as a step caller.

LiteLLM keeps process-wide settings in module globals; they are set here, once, when
:func:`load_litellm` is first called (never at import time of this module):

* ``LITELLM_LOCAL_MODEL_COST_MAP`` makes it read its bundled price map instead of fetching
  it from the internet at import (which stalls ~10 s offline);
* telemetry, debug banners, callbacks and its own token counting are off;
* the Router does no retries, cooldowns or fallbacks: the chain owns those.

Upstream exceptions are mapped to :mod:`inference.errors` here and nowhere else.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import logging
import os
import re
import sys
from collections.abc import AsyncGenerator, Mapping
from functools import cache
from typing import Any

import httpx

from inference.config import InferenceSettings, ModelConfig, NodeConfig, Price
from inference.errors import (
    ContextTooLong,
    NodeTimeout,
    NodeUnavailable,
    RequestRejected,
    StepError,
)
from inference.sent import request_sent
from inference.step import Chunk, Step, StepEvent, Usage
from inference.types import ChatRequest
from inference.wire import ToolCallAssembler, usage_of
from inference.wire.openai_chat import openai_messages, sampling_params

__all__ = ["LiteLLMCaller", "litellm_price", "load_litellm"]

log = logging.getLogger(__name__)
_PROVIDER_PREFIX = {"openai": "openai", "ollama": "ollama_chat", "anthropic": "anthropic"}


@cache
def load_litellm() -> Any:
    """Import and configure LiteLLM for offline, embedded use (idempotent)."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    litellm: Any = importlib.import_module("litellm")
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    litellm.drop_params = True
    # We take token counts from the providers' usage (or estimate them ourselves); LiteLLM's
    # own counting runs tiktoken over every prompt before the first token (~10 ms a call).
    litellm.disable_token_counter = True
    litellm.callbacks = []
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm


def litellm_model_name(node: NodeConfig, model: ModelConfig) -> str:
    return f"{_PROVIDER_PREFIX[node.kind]}/{model.model}"


_PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"


@cache
def _bundled_price_map() -> Mapping[str, Mapping[str, Any]]:
    """LiteLLM's bundled price map, without importing LiteLLM when nothing else needs it.

    The public way is ``litellm.model_cost`` (loaded offline from the bundled file because
    :func:`load_litellm` sets ``LITELLM_LOCAL_MODEL_COST_MAP``). Importing LiteLLM costs
    ~2.5 s and ~100 MB, though, and a set-up whose nodes all use the native client never
    needs it otherwise. So, in order:

    1. LiteLLM already imported (a node uses it): its public ``model_cost``;
    2. the bundled file, located through the installed distribution's own file list
       (``importlib.metadata``, which imports nothing) rather than a guessed path;
    3. importing LiteLLM for its ``model_cost``;
    4. an empty map, with one warning: prices are unknown (cloud costs read 0, config
       ``price`` overrides still apply).
    """
    if "litellm" in sys.modules:
        return _public_model_cost()
    bundled = _read_bundled_map()
    if bundled is not None:
        return bundled
    return _public_model_cost()


def _read_bundled_map() -> Mapping[str, Mapping[str, Any]] | None:
    try:
        files = importlib.metadata.files("litellm") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == _PRICE_MAP_FILE and entry.parent.name == "litellm":
            try:
                loaded = json.loads(entry.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("LiteLLM's price map %s is unreadable (%s)", entry, exc)
                return None
            return loaded if isinstance(loaded, dict) else None
    return None


def _public_model_cost() -> Mapping[str, Mapping[str, Any]]:
    try:
        costs = load_litellm().model_cost
    except Exception as exc:  # a broken or missing LiteLLM must not break pricing
        log.warning("LiteLLM's price map is not available (%s: %s); cloud prices are "
                    "unknown and count as 0 unless set under models.<alias>.price",
                    type(exc).__name__, exc)
        return {}
    if not isinstance(costs, Mapping):
        return {}
    return costs


def litellm_price(name: str) -> Price | None:
    """USD per million tokens from LiteLLM's bundled map, or None if unknown."""
    costs = _bundled_price_map()
    for key in (name, name.split("/", 1)[-1]):
        entry = costs.get(key)
        if entry and "input_cost_per_token" in entry:
            return Price(
                input_per_mtok=float(entry["input_cost_per_token"]) * 1e6,
                output_per_mtok=float(entry.get("output_cost_per_token", 0.0)) * 1e6,
            )
    return None


def _register_prices(litellm: Any, settings: InferenceSettings) -> None:
    """Tell LiteLLM every model we use, so it never looks one up at run time.

    Without an entry LiteLLM rescans its price map on every chunk and, for Ollama models,
    makes blocking ``/api/show`` calls to localhost:11434 from the event loop. Local models
    cost nothing; config price overrides win. (Process-wide, like all LiteLLM settings.)
    """
    entries: dict[str, dict[str, Any]] = {}
    for model in settings.models.values():
        node = settings.nodes[model.node]
        name = litellm_model_name(node, model)
        price = model.price or (None if node.is_cloud else Price(input_per_mtok=0,
                                                                 output_per_mtok=0))
        if price is None:
            continue
        entry: dict[str, Any] = {
            "input_cost_per_token": price.input_per_mtok / 1e6,
            "output_cost_per_token": price.output_per_mtok / 1e6,
            "litellm_provider": _PROVIDER_PREFIX[node.kind],
            "mode": "chat",
        }
        if model.context_window:
            entry["max_input_tokens"] = entry["max_tokens"] = model.context_window
        entries[name] = entry
    if entries:
        litellm.register_model(entries)


def _deployment(alias: str, node: NodeConfig, model: ModelConfig) -> dict[str, Any]:
    params: dict[str, Any] = {"model": litellm_model_name(node, model), "max_retries": 0}
    if node.base_url:
        params["api_base"] = node.base_url
    if node.api_key is not None:
        params["api_key"] = node.api_key.get_secret_value()
    elif node.kind == "openai":
        params["api_key"] = "none"  # OpenAI-compatible local servers ignore it
    return {"model_name": alias, "litellm_params": params}


class LiteLLMCaller:
    """Innermost step layer: one streamed completion through the embedded Router."""

    def __init__(self, settings: InferenceSettings) -> None:
        litellm = load_litellm()
        model_list = [
            _deployment(alias, settings.nodes[m.node], m) for alias, m in settings.models.items()
        ]
        _register_prices(litellm, settings)
        self._litellm = litellm
        self._router = litellm.Router(
            model_list=model_list,
            num_retries=0,
            disable_cooldowns=True,
            set_verbose=False,
        )

    async def aclose(self) -> None:
        """Close the HTTP clients LiteLLM caches process-wide, and forget them so that a
        stack opened later in the same process gets fresh ones."""
        await self._litellm.close_litellm_async_clients()
        self._litellm.in_memory_llm_clients_cache.flush_cache()

    async def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        if step.node.is_cloud and step.node.api_key is None:
            raise NodeUnavailable(f"no API key configured for node {step.node_name!r}")
        response = None
        try:
            # Handed to LiteLLM: its own set-up (milliseconds of CPU) runs outside the start-up
            # slot, or a burst of calls would queue behind it one slot at a time.
            request_sent()
            response = await self._router.acompletion(**self._params(step, request))
            usage: Any = None
            finish: str | None = None
            produced = 0
            calls = ToolCallAssembler()
            async for chunk in response:
                usage = getattr(chunk, "usage", None) or usage
                for choice in chunk.choices or ():
                    finish = choice.finish_reason or finish
                    _add_calls(calls, getattr(choice.delta, "tool_calls", None))
                    text = getattr(choice.delta, "content", None)
                    if text:
                        produced += len(text)
                        yield Chunk(text)
            for call in calls.calls():
                yield call
                finish = "tool_calls" if finish in (None, "stop") else finish
            yield _usage(usage, finish, request, produced)
        except StepError:
            raise
        except Exception as exc:  # the edge: every upstream failure is mapped once, here
            raise map_exception(exc, step) from exc
        finally:
            if response is not None and hasattr(response, "aclose"):
                await response.aclose()

    def _params(self, step: Step, request: ChatRequest) -> dict[str, Any]:
        timeout = httpx.Timeout(step.timeouts.total, connect=step.timeouts.connect,
                                read=step.timeouts.first_token)
        params: dict[str, Any] = {
            "model": step.alias,
            "messages": openai_messages(request),
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": timeout,
            "stream_timeout": step.timeouts.first_token,
            "num_retries": 0,
        }
        params.update(sampling_params(request))
        return params


def _add_calls(calls: ToolCallAssembler, fragments: Any) -> None:
    """LiteLLM's streamed ``delta.tool_calls`` (OpenAI's shape for every provider)."""
    for fragment in fragments or ():
        function = getattr(fragment, "function", None)
        arguments = getattr(function, "arguments", None)
        if arguments is not None and not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.add(getattr(fragment, "index", None), getattr(fragment, "id", None),
                  getattr(function, "name", None), arguments)


def _usage(raw: Any, finish: str | None, request: ChatRequest, produced_chars: int) -> Usage:
    return usage_of(request, prompt=getattr(raw, "prompt_tokens", None),
                    completion=getattr(raw, "completion_tokens", None),
                    produced_chars=produced_chars, finish=finish)


def map_exception(exc: BaseException, step: Step) -> StepError:
    """Translate a LiteLLM / httpx exception into this package's hierarchy."""
    litellm = load_litellm()
    ex = litellm.exceptions
    key = step.node.api_key.get_secret_value() if step.node.api_key else None
    message = _short(exc, key)
    if isinstance(exc, ex.ContextWindowExceededError):
        return ContextTooLong(message)
    if isinstance(exc, ex.Timeout | httpx.TimeoutException | TimeoutError):
        return NodeTimeout(message or "timed out")
    node_side = (
        ex.AuthenticationError, ex.PermissionDeniedError, ex.NotFoundError, ex.RateLimitError,
        ex.PaymentRequiredError, ex.ServiceUnavailableError, ex.BadGatewayError,
        ex.InternalServerError, ex.APIConnectionError, ex.MidStreamFallbackError,
    )
    if isinstance(exc, node_side):
        return NodeUnavailable(message)
    if step.node.kind == "ollama" and "unexpected response from ollama" in message.lower():
        return NodeUnavailable(message)  # LiteLLM's name for an Ollama {"error": …} line
    if isinstance(exc, ex.BadRequestError | ex.UnprocessableEntityError):
        return RequestRejected(message)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in (401, 403, 404, 408, 429):
        return RequestRejected(message)
    log.debug("mapping unexpected upstream error from %s", step.node_name, exc_info=exc)
    return NodeUnavailable(message or type(exc).__name__)


def _short(exc: BaseException, secret: str | None = None) -> str:
    """One readable line: ``HTTP 503 ServiceUnavailableError: <provider message>``."""
    text = str(exc).strip()
    if secret:
        text = text.replace(secret, "***")
    text = re.sub(r"^(litellm\.)?(\w+Error: )+", "", text)
    text = re.sub(r"^\w*Exception - ", "", text)
    first = text.splitlines()[0] if text else ""
    status = getattr(exc, "status_code", None)
    head = f"HTTP {status} {type(exc).__name__}" if isinstance(status, int) else type(exc).__name__
    return f"{head}: {first[:300]}" if first else head
