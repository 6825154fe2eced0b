"""Step caller that talks to local nodes itself, through the process's aiohttp session
(:class:`inference.node_http.NodeHttp`) and the protocols in :mod:`inference.wire`.

For OpenAI-compatible servers (MLX, ``mlx_daemon``, vLLM, …) and Ollama this does what the
LiteLLM edge does — one streamed completion, text deltas, then usage — at a fraction of
the CPU: ``bench/overhead.py`` measures ~11 ms of CPU for one short streamed request
through a bare LiteLLM Router and ~3 ms through the whole homecrew chain with this client
(LiteLLM's set-up is ~7 ms a request, its stream handling ~0.8 ms a chunk). That matters
when the bot has dozens of replies streaming on one event loop. Cloud providers keep going
through LiteLLM (see :class:`NodeCaller`), which knows their protocols and quirks.
Embeddings (:class:`NativeEmbedder`) always go through this client, cloud node or not:
its two protocols are all an embedding model is configured on (see ``ModelConfig``).

HTTP, TLS and protocol failures are mapped to :mod:`inference.errors` here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from types import SimpleNamespace
from typing import Any

import aiohttp

from inference.config import NodeConfig
from inference.errors import (
    ContextTooLong,
    DimensionsUnsupported,
    NodeTimeout,
    NodeUnavailable,
    RequestRejected,
    StepError,
    ToolsUnsupported,
)
from inference.node_http import NodeHttp, describe_client_error
from inference.step import Chunk, Embedded, Step, StepCaller, StepEvent
from inference.types import ChatRequest, EmbedRequest
from inference.wire import (
    MAX_LINE,
    ChatProtocol,
    EmbedProtocol,
    LineReader,
    LineSplitter,
    WireError,
    error_text,
)
from inference.wire.ollama_chat import OllamaChat
from inference.wire.ollama_embed import OllamaEmbed
from inference.wire.openai_chat import OpenAIChat
from inference.wire.openai_embed import OpenAIEmbed

__all__ = ["USER_AGENT", "NativeCaller", "NativeEmbedder", "NodeCaller", "uses_native_client"]

USER_AGENT = "homecrew"

_PROTOCOLS: Mapping[str, ChatProtocol] = {"openai": OpenAIChat(), "ollama": OllamaChat()}
_EMBED_PROTOCOLS: Mapping[str, EmbedProtocol] = {"openai": OpenAIEmbed(),
                                                 "ollama": OllamaEmbed()}
_EMBED_BODY = 128 * 1024 * 1024  # an answer of many long vectors, as JSON text
_CONTEXT = re.compile(r"context[ _](length|window|size|limit)|maximum context|too many tokens"
                      r"|prompt is too long|exceeds? the (context|maximum)", re.IGNORECASE)
_NODE_SIDE = frozenset({401, 402, 403, 404, 408, 409, 429})
_ERROR_BODY = 64 * 1024  # of a non-200 answer, enough for its message
_DRAIN_S = 0.5  # for the end of a body whose end marker has been read


def uses_native_client(node: NodeConfig) -> bool:
    """``client: native``, or ``auto`` on a local node whose protocol this module speaks."""
    if node.client == "auto":
        return not node.is_cloud and node.kind in _PROTOCOLS
    return node.client == "native"


class NativeCaller:
    """Innermost step layer for OpenAI-compatible and Ollama nodes."""

    def __init__(self, http: NodeHttp) -> None:
        self._http = http

    async def stream(self, step: Step, request: ChatRequest) -> AsyncGenerator[StepEvent, None]:
        protocol = _PROTOCOLS.get(step.node.kind)
        if protocol is None or step.node.base_url is None:
            raise NodeUnavailable(f"node {step.node_name!r} ({step.node.kind}) needs LiteLLM")
        secret = step.node.api_key.get_secret_value() if step.node.api_key else None
        reader = protocol.reader(request)
        try:
            async with await self._post(step, protocol, request, secret) as response:
                if response.status != 200:
                    raise _http_error(response.status, await _head_of(response), secret)
                async with aclosing(_events(response, reader)) as chunks:
                    async for chunk in chunks:
                        yield chunk
            for call in reader.tool_calls():
                yield call
        except StepError:
            raise
        except WireError as exc:
            raise _classify(f"{protocol.name} stream error: {exc}", 500, secret) from None
        except TimeoutError:
            raise NodeTimeout(f"TimeoutError: connecting to {step.node_name} timed out"
                              ) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise NodeUnavailable(_redact(describe_client_error(exc), secret)) from None
        usage = reader.usage()
        if not reader.finished and usage.finish_reason is None:
            raise NodeUnavailable(f"{step.node_name} ended the stream before its end marker")
        yield usage

    async def _post(self, step: Step, protocol: ChatProtocol, request: ChatRequest,
                    secret: str | None) -> aiohttp.ClientResponse:
        return await _send(self._http, step, protocol.path(), protocol.body(step, request),
                           secret, accept="application/x-ndjson, text/event-stream")


class NativeEmbedder:
    """Innermost embedding layer: one POST to an Ollama or OpenAI-compatible node's
    embeddings endpoint (:mod:`inference.wire.ollama_embed`, ``openai_embed``), its
    failures mapped like a chat step's. Vectors of another length than the ``dimensions``
    asked for raise :class:`DimensionsUnsupported`."""

    def __init__(self, http: NodeHttp) -> None:
        self._http = http

    async def embed(self, step: Step, request: EmbedRequest) -> Embedded:
        protocol = _EMBED_PROTOCOLS.get(step.node.kind)
        if protocol is None or step.node.base_url is None:
            raise NodeUnavailable(f"node {step.node_name!r} ({step.node.kind}) has no "
                                  "embeddings API homecrew speaks")
        secret = step.node.api_key.get_secret_value() if step.node.api_key else None
        try:
            async with await _send(self._http, step, protocol.path(),
                                   protocol.body(step, request), secret,
                                   accept="application/json") as response:
                if response.status != 200:
                    raise _http_error(response.status, await _head_of(response), secret)
                answer = protocol.read(await _whole(response, _EMBED_BODY), request)
        except StepError:
            raise
        except WireError as exc:
            raise _classify(f"{protocol.name} embeddings answer malformed: {exc}", 500,
                            secret) from None
        except TimeoutError:
            raise NodeTimeout(f"TimeoutError: connecting to {step.node_name} timed out"
                              ) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise NodeUnavailable(_redact(describe_client_error(exc), secret)) from None
        wanted = request.dimensions
        if wanted is not None and len(answer.vectors[0]) != wanted:
            raise DimensionsUnsupported(
                f"{step.upstream_model} answered {len(answer.vectors[0])} dimensions, not "
                f"the {wanted} asked for")
        return answer


async def _send(http: NodeHttp, step: Step, path: str, payload: Mapping[str, Any],
                secret: str | None, *, accept: str) -> aiohttp.ClientResponse:
    """The answer's head; once more on a fresh connection when a reused keep-alive
    connection turns out closed by the node before answering."""
    assert step.node.base_url is not None
    url = step.node.base_url.rstrip("/") + path
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Accept": accept}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    body = json.dumps(payload).encode()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=step.timeouts.connect)
    for attempt in (1, 2):
        trace = SimpleNamespace(reused=False)
        try:
            return await http.session.post(
                url, data=body, headers=headers, timeout=timeout,
                ssl=http.ssl_for(step.node), trace_request_ctx=trace)
        except aiohttp.ServerDisconnectedError:
            if attempt == 2 or not trace.reused:
                raise
    raise AssertionError("unreachable")


async def _events(response: aiohttp.ClientResponse, reader: LineReader
                  ) -> AsyncGenerator[Chunk, None]:
    """The text of the streamed body up to the protocol's end marker (or of the one JSON
    document a server sends when it does not stream).

    The text of all the events that arrived together (one read of the socket) goes on as
    one chunk: nobody could see them apart, and every layer above pays per chunk (a node
    streaming faster than the gateway reads, e.g. under load, sends several per read).
    Text read before a malformed or error event still goes on before the error.
    """
    if response.content_type == "application/json":
        chunk = reader.document(await _whole(response))
        if chunk is not None:
            yield chunk
        return
    lines = LineSplitter(MAX_LINE)
    async for data in response.content.iter_any():
        texts: list[str] = []
        failure: WireError | None = None
        try:
            for line in lines.feed(data):
                chunk = reader.feed(line)
                if chunk is not None:
                    texts.append(chunk.text)
                if reader.finished:
                    break
        except WireError as exc:
            failure = exc
        if texts:
            yield Chunk(texts[0] if len(texts) == 1 else "".join(texts))
        if failure is not None:
            raise failure
        if reader.finished:
            await _drain(response)
            return
    for line in lines.end():
        chunk = reader.feed(line)
        if chunk is not None:
            yield chunk


async def _whole(response: aiohttp.ClientResponse, limit: int = MAX_LINE) -> bytes:
    body = bytearray()
    async for data in response.content.iter_any():
        body += data
        if len(body) > limit:
            raise WireError(f"an answer longer than {limit} bytes")
    return bytes(body)


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what follows the end marker (the body's own end, normally already here) so the
    connection can carry the next request; a node that keeps sending loses it instead."""
    with contextlib.suppress(TimeoutError, aiohttp.ClientError, ValueError):
        async with asyncio.timeout(_DRAIN_S):
            while not response.content.at_eof():
                if len(await response.content.readany()) > _ERROR_BODY:
                    return


async def _head_of(response: aiohttp.ClientResponse) -> bytes:
    """The first bytes of an error answer (its message), without waiting for more."""
    body = bytearray()
    try:
        while len(body) < _ERROR_BODY:
            piece = await response.content.read(_ERROR_BODY - len(body))
            if not piece:
                break
            body += piece
    except aiohttp.ClientPayloadError:
        pass  # what came is enough to say why
    return bytes(body)


def _http_error(status: int, body: bytes, secret: str | None) -> StepError:
    text = _redact(body.decode("utf-8", "replace"), secret)  # before error_text cuts it
    if status == 400 and _code_of(text) == "tools_unsupported":
        return ToolsUnsupported(f"HTTP 400: {error_text(text)}")
    return _classify(f"HTTP {status}: {error_text(text)}".rstrip(": "), status, secret)


def _code_of(text: str) -> object:
    """The ``error.code`` of an OpenAI-shaped error body, if it has one."""
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


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

