"""``POST /v1/chat/completions``: streamed (SSE) and whole replies in OpenAI's format.

Nothing is committed to the client until the worker has accepted the job (model loaded,
prompt tokenized and within the context), so load failures, overload and context errors
are proper HTTP statuses. If the client goes away (aiohttp cancels the handler, or a
write fails) the job is cancelled and its batch slot freed at once.

When the request offers tools, the reply's text goes through the model's tool-call
splitter (:mod:`mlx_daemon.tool_calls`): calls become ``tool_calls`` (in the message, or
as ``delta.tool_calls`` chunks) and ``finish_reason`` ``"tool_calls"``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from mlx_daemon.errors import ApiError, bad_request, request_too_large, server_error
from mlx_daemon.jobs import Accepted, Delta, EventChannel, Failed, Finished, Job, JobEvent
from mlx_daemon.protocol import (
    CompletionIdentity,
    GenerationRequest,
    chunk,
    completion,
    parse_chat_request,
    sse,
    tool_call_deltas,
    usage_chunk,
)
from mlx_daemon.service import Daemon
from mlx_daemon.tool_calls import Piece, ToolCall, ToolCallSplitter

__all__ = ["DAEMON_KEY", "chat_completions"]

log = logging.getLogger(__name__)
DAEMON_KEY = web.AppKey("daemon", Daemon)
_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


@dataclass
class _Outcome:
    """What happened to one request, for metrics and the log."""

    model: str
    began: float = field(default_factory=time.monotonic)
    status: str = "500"
    finished: bool = False
    first_token: float | None = None


async def _read_json(request: web.Request, limit: int) -> object:
    """The decoded body; 413 before reading it when its declared length is over ``limit``
    (a body without a length is cut off by aiohttp at ``client_max_size``, also 413)."""
    if request.content_length is not None and request.content_length > limit:
        raise request_too_large("the body (bytes)", request.content_length, limit,
                                "max_request_bytes")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise request_too_large("the body (bytes)", None, limit,
                                "max_request_bytes") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request(
            "We could not parse the JSON body of your request. "
            "(HINT: This likely means you aren't using your HTTP library correctly.)"
        ) from None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON_KEY]
    began = time.monotonic()
    settings = daemon.settings
    try:
        generation = parse_chat_request(await _read_json(request, settings.max_request_bytes))
        chars = generation.prompt_chars()
        if chars > settings.max_prompt_chars:
            raise request_too_large("the prompt (characters)", chars, settings.max_prompt_chars,
                                    "max_prompt_chars")
    except ApiError as error:
        daemon.record("-", str(error.status), time.monotonic() - began)
        raise
    outcome = _Outcome(generation.model, began=began)
    job: Job | None = None
    try:
        job = daemon.submit(generation)
        first = await job.channel.receive()
        if isinstance(first, Failed):
            outcome.finished = True
            raise first.error
        if not isinstance(first, Accepted):
            raise server_error(f"unexpected first event {type(first).__name__}")
        splitter = first.tools.splitter() if first.tools is not None else None
        if generation.stream:
            return await _stream(request, daemon, job, outcome, splitter)
        return await _collect(daemon, job, outcome, splitter)
    except ApiError as error:
        outcome.status = str(error.status)
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        outcome.status = "disconnected"
        raise
    finally:
        if job is not None and not outcome.finished:
            daemon.cancel(job)
        _finish(daemon, outcome)


def _finish(daemon: Daemon, outcome: _Outcome) -> None:
    elapsed = time.monotonic() - outcome.began
    daemon.record(outcome.model, outcome.status, elapsed)
    log.info("chat model=%s status=%s ttft=%s total=%.3fs", outcome.model, outcome.status,
             f"{outcome.first_token:.3f}s" if outcome.first_token is not None else "-",
             elapsed)  # fmt: skip


async def _gather(channel: EventChannel) -> tuple[str, JobEvent | None]:
    """Await the next event; merge consecutive text deltas already waiting."""
    event: JobEvent | None = await channel.receive()
    parts: list[str] = []
    while isinstance(event, Delta):
        parts.append(event.text)
        event = channel.receive_nowait()
    return "".join(parts), event


def _finish_reason(reason: str, splitter: ToolCallSplitter | None) -> str:
    return "tool_calls" if reason == "stop" and splitter is not None and splitter.calls else reason


class _Deltas:
    """Turns the reply's text into stream deltas: content, and tool calls when parsed."""

    def __init__(self, splitter: ToolCallSplitter | None) -> None:
        self.splitter = splitter
        self.index = 0

    def feed(self, text: str) -> list[dict[str, Any]]:
        if self.splitter is None:
            return [{"content": text}] if text else []
        return self._deltas(self.splitter.feed(text) if text else [])

    def finish(self) -> list[dict[str, Any]]:
        return self._deltas(self.splitter.finish()) if self.splitter is not None else []

    def _deltas(self, pieces: list[Piece]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for piece in pieces:
            if isinstance(piece, ToolCall):
                out.extend(tool_call_deltas(piece, self.index))
                self.index += 1
            else:
                out.append({"content": piece})
        return out


async def _stream(
    request: web.Request,
    daemon: Daemon,
    job: Job,
    outcome: _Outcome,
    splitter: ToolCallSplitter | None,
) -> web.StreamResponse:
    generation: GenerationRequest = job.request
    usage_on = generation.include_usage
    ident = CompletionIdentity(model=generation.model, fingerprint=daemon.fingerprint)
    response = web.StreamResponse(status=200, headers=_SSE_HEADERS)
    await response.prepare(request)
    outcome.status = "200"
    await response.write(sse(chunk(ident, {"role": "assistant", "content": ""},
                                   include_usage=usage_on)))  # fmt: skip
    deltas = _Deltas(splitter)
    while True:
        text, event = await _gather(job.channel)
        if text and outcome.first_token is None:
            outcome.first_token = time.monotonic() - outcome.began
        pending = deltas.feed(text)
        if isinstance(event, Finished):
            pending += deltas.finish()
        for delta in pending:
            await response.write(sse(chunk(ident, delta, include_usage=usage_on)))
        if isinstance(event, Finished):
            outcome.finished = True
            reason = _finish_reason(event.finish_reason, splitter)
            await response.write(sse(chunk(ident, {}, reason, include_usage=usage_on)))
            if usage_on:
                await response.write(sse(usage_chunk(ident, event.usage)))
            await response.write(sse("[DONE]"))
            break
        if isinstance(event, Failed):
            outcome.finished = True
            outcome.status = "stream_error"
            await response.write(sse(event.error.body()))
            break
    await response.write_eof()
    return response


async def _collect(
    daemon: Daemon, job: Job, outcome: _Outcome, splitter: ToolCallSplitter | None
) -> web.StreamResponse:
    generation = job.request
    parts: list[str] = []
    while True:
        text, event = await _gather(job.channel)
        parts.append(text)
        if isinstance(event, Failed):
            outcome.finished = True
            raise event.error
        if isinstance(event, Finished):
            outcome.finished = True
            outcome.status = "200"
            ident = CompletionIdentity(model=generation.model, fingerprint=daemon.fingerprint)
            text, calls = _split("".join(parts), splitter)
            reason = _finish_reason(event.finish_reason, splitter)
            body = completion(ident, text, reason, event.usage, calls)
            return web.json_response(body)


def _split(text: str, splitter: ToolCallSplitter | None) -> tuple[str, list[ToolCall]]:
    """A whole reply's content and tool calls."""
    if splitter is None:
        return text, []
    pieces = [*splitter.feed(text), *splitter.finish()]
    calls = [piece for piece in pieces if isinstance(piece, ToolCall)]
    return "".join(piece for piece in pieces if isinstance(piece, str)), calls
