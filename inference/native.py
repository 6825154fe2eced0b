"""Step caller that talks to local nodes itself, over a pool of keep-alive connections
(:mod:`inference.http`).

For OpenAI-compatible servers (MLX, ``mlx_daemon``, vLLM, …) and Ollama this does what the
LiteLLM edge does — one streamed completion, text deltas, then usage — at a fraction of
the CPU: ``bench/overhead.py`` measures ~11 ms of CPU for one short streamed request
through a bare LiteLLM Router and ~3 ms through the whole homecrew chain with this client
(LiteLLM's set-up is ~7 ms a request, its stream handling ~0.8 ms a chunk). That matters
when the bot has dozens of replies streaming on one event loop. Cloud providers keep going
through LiteLLM (see :class:`NodeCaller`), which knows their protocols and quirks.

HTTP and protocol failures are mapped to :mod:`inference.errors` here, once.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Mapping

from inference.config import NodeConfig
from inference.errors import (
    ContextTooLong,
    NodeTimeout,
    NodeUnavailable,
    RequestRejected,
    StepError,
)
from inference.http import HttpError, HttpPool
from inference.sent import request_sent
from inference.step import Step, StepCaller, StepEvent
from inference.types import ChatRequest
from inference.wire import ChatProtocol, WireError, error_text
from inference.wire.ollama_chat import OllamaChat
from inference.wire.openai_chat import OpenAIChat

__all__ = ["USER_AGENT", "NativeCaller", "NodeCaller", "uses_native_client"]

USER_AGENT = "homecrew"

_PROTOCOLS: Mapping[str, ChatProtocol] = {"openai": OpenAIChat(), "ollama": OllamaChat()}
_CONTEXT = re.compile(r"context[ _](length|window|size|limit)|maximum context|too many tokens"
                      r"|prompt is too long|exceeds? the (context|maximum)", re.IGNORECASE)
_NODE_SIDE = frozenset({401, 402, 403, 404, 408, 409, 429})


def uses_native_client(node: NodeConfig) -> bool:
    """``client: native``, or ``auto`` on a local node whose protocol this module speaks."""
    if node.client == "auto":
        return not node.is_cloud and node.kind in _PROTOCOLS
    return node.client == "native"


class NativeCaller:
    """Innermost step layer for OpenAI-compatible and Ollama nodes."""

    def __init__(self) -> None:
        self._pool: HttpPool | None = None

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    def _client(self) -> HttpPool:
        if self._pool is None:
            self._pool = HttpPool()
        return self._pool

    async def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        protocol = _PROTOCOLS.get(step.node.kind)
        if protocol is None or step.node.base_url is None:
            raise NodeUnavailable(f"node {step.node_name!r} ({step.node.kind}) needs LiteLLM")
        url = step.node.base_url.rstrip("/") + protocol.path()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "Accept": "application/x-ndjson, text/event-stream"}
        secret = step.node.api_key.get_secret_value() if step.node.api_key else None
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        body = json.dumps(protocol.body(step, request)).encode()
        reader = protocol.reader(request)
        try:
            async with self._client().post(url, body, headers, on_sent=request_sent,
                                           connect_timeout=step.timeouts.connect) as response:
                if response.status != 200:
                    raise _http_error(response.status, await response.read(), secret)
                async for line in response.lines():
                    chunk = reader.feed(line)
                    if chunk is not None:
                        yield chunk
                    if reader.finished:
                        break
        except StepError:
            raise
        except WireError as exc:
            raise _classify(f"{protocol.name} stream error: {exc}", 500, secret) from None
        except TimeoutError:
            raise NodeTimeout(f"TimeoutError: connecting to {step.node_name} timed out"
                              ) from None
        except (HttpError, OSError, ValueError) as exc:
            raise NodeUnavailable(_redact(f"{type(exc).__name__}: {exc}", secret)[:300]
                                  ) from None
        usage = reader.usage()
        if not reader.finished and usage.finish_reason is None:
            raise NodeUnavailable(f"{step.node_name} ended the stream before its end marker")
        yield usage


def _http_error(status: int, body: bytes, secret: str | None) -> StepError:
    text = _redact(body.decode("utf-8", "replace"), secret)  # before error_text cuts it
    return _classify(f"HTTP {status}: {error_text(text)}".rstrip(": "), status, secret)


def _redact(text: str, secret: str | None) -> str:
    """``text`` without the node's API key (servers do echo a rejected key back)."""
    return text.replace(secret, "***") if secret else text


def _classify(message: str, status: int, secret: str | None) -> StepError:
    message = _redact(message, secret)
    if not 400 <= status < 500 or status in _NODE_SIDE:  # the node's trouble: fall through
        return NodeUnavailable(message)
    return ContextTooLong(message) if _CONTEXT.search(message) else RequestRejected(message)


class NodeCaller:
    """Sends each step to the native client or to LiteLLM, by its node's ``client``.

    ``litellm`` may be ``None`` when no node of the set-up needs it (LiteLLM is then never
    imported: ~2.5 s less start-up, ~100 MB less memory).
    """

    def __init__(self, native: StepCaller, litellm: StepCaller | None) -> None:
        self._native = native
        self._litellm = litellm

    def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        if uses_native_client(step.node):
            return self._native.stream(step, request)
        if self._litellm is None:
            raise AssertionError(f"node {step.node_name!r} needs LiteLLM, which was not loaded")
        return self._litellm.stream(step, request)

