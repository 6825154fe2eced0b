"""Run one parsed API call on the chain: the part every API dialect shares.

:class:`Gateway` holds what the handlers need (settings, the inference stack, the catalog
of ``model`` names, the gatekeeper). For a :class:`~gateway.dialect.ParsedCall` it resolves
the model, checks the key's route scope, builds the :class:`~inference.types.ChatRequest`
(the key's name for the ledger, the agent's name and persona prompt for an agent,
``mark_interruptions=False``) and runs it, whole (:meth:`Gateway.complete`) or streamed
(:meth:`Gateway.open_stream`).

Inference errors are mapped to gateway errors here, once (:func:`gateway_error`):
``AllStepsFailed`` → :class:`NoStepAnswered` (503, each step and why),
``RequestRejected`` → :class:`BadRequest`, ``UnknownRouteError`` → :class:`ModelNotFound`.

Streaming: :meth:`Gateway.open_stream` waits for the first event before it returns, so a
failure before anything was answered is still a real status code; :func:`send_sse` then
sends the 200 and the dialect's frames. A client that goes away (a failed write, or the
handler cancelled by aiohttp's ``handler_cancellation``) closes the event stream, which
closes the node's HTTP request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Self

from aiohttp import web

from gateway.access import Gatekeeper, Grant
from gateway.catalog import Catalog, Target
from gateway.config import GatewaySettings
from gateway.dialect import Dialect, ParsedCall
from gateway.errors import BadRequest, GatewayError, ModelNotFound, NoStepAnswered
from inference.errors import (
    AllStepsFailed,
    InferenceError,
    RequestRejected,
    UnknownRouteError,
)
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ReplyDone, StreamEvent

__all__ = ["EventStream", "Gateway", "answer", "gateway_error", "read_json", "reply_headers",
           "send_sse"]

log = logging.getLogger(__name__)

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8",
               "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True, slots=True)
class Gateway:
    """What the API handlers share: one per process (or per test app)."""

    settings: GatewaySettings
    stack: InferenceStack
    catalog: Catalog
    gate: Gatekeeper

    def request(self, call: ParsedCall, grant: Grant) -> ChatRequest:
        """The chain's request for ``call`` by ``grant``'s key (403 / 404 raised here)."""
        target = self.catalog.resolve(call.model)
        grant.check(target.routes, call.model)
        return ChatRequest(
            route=target.route,
            messages=_messages(target, call),
            agent=target.agent,
            key_name=grant.key_name,
            temperature=call.temperature,
            max_tokens=call.max_tokens,
            top_p=call.top_p,
            stop=call.stop,
            seed=call.seed,
            response_format=call.response_format,
            tools=call.tools,
            tool_choice=call.tool_choice,
            stream=call.stream,
            mark_interruptions=False,
        )

    async def complete(self, call: ParsedCall, grant: Grant) -> ReplyDone:
        """The whole answer (any failure falls through to the next step)."""
        request = self.request(call, grant)
        try:
            return await self.stack.complete(request)
        except InferenceError as exc:
            raise gateway_error(exc) from None

    async def open_stream(self, call: ParsedCall, grant: Grant) -> EventStream:
        """The answer's events, the first one already received (close it when done)."""
        return await EventStream.open(self.stack.stream(self.request(call, grant)))


class EventStream:
    """The chain's events with inference errors mapped to gateway errors; opened once its
    first event is in. ``aclose`` closes the chain's generator (and the node's request)."""

    def __init__(self, first: StreamEvent, rest: AsyncGenerator[StreamEvent, None]) -> None:
        self._first: StreamEvent | None = first
        self._rest = rest

    @classmethod
    async def open(cls, events: AsyncGenerator[StreamEvent, None]) -> Self:
        try:
            first = await _next(events)
        except BaseException:
            await events.aclose()
            raise
        return cls(first, events)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamEvent:
        first = self._first
        if first is not None:
            self._first = None
            return first
        return await _next(self._rest)

    async def aclose(self) -> None:
        await self._rest.aclose()


async def _next(events: AsyncGenerator[StreamEvent, None]) -> StreamEvent:
    try:
        return await anext(events)
    except InferenceError as exc:
        raise gateway_error(exc) from None


def gateway_error(exc: InferenceError) -> GatewayError:
    """The gateway's error for an inference error (the one place they are mapped)."""
    if isinstance(exc, AllStepsFailed):
        steps = "; ".join(f"{f.model}@{f.node} ({f.kind}): {f.reason}" for f in exc.failures)
        return NoStepAnswered(f"no step of {exc.route!r} answered: {steps or 'no steps'}")
    if isinstance(exc, RequestRejected):
        return BadRequest(f"the model rejected the request: {exc}")
    if isinstance(exc, UnknownRouteError):
        return ModelNotFound(exc.route, [])
    return GatewayError(f"inference failed: {exc}")


def reply_headers(done: ReplyDone) -> dict[str, str]:
    """Who answered a whole reply, as response headers (``x-homecrew-…``)."""
    return {"x-homecrew-route": done.route, "x-homecrew-model": done.model,
            "x-homecrew-node": done.node, "x-homecrew-cached": "true" if done.cached else "false",
            "x-homecrew-fallback-depth": str(done.fallback_depth)}


async def send_sse(request: web.Request, frames: AsyncIterator[bytes]) -> web.StreamResponse:
    """Send ``frames`` as a 200 event stream. A client that goes away ends it quietly
    (``frames`` is closed: the upstream request with it)."""
    response = web.StreamResponse(headers=SSE_HEADERS)
    try:
        await response.prepare(request)
        async for frame in frames:
            await response.write(frame)
    except ConnectionResetError:  # aiohttp's ClientConnectionResetError is one
        log.debug("client went away mid-stream on %s", request.path)
        return response
    finally:
        close = getattr(frames, "aclose", None)
        if close is not None:
            await close()
    await response.write_eof()
    return response


async def read_json(request: web.Request) -> object:
    """The request's JSON body (``client_max_size`` bounds it while it is read)."""
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest("the body is not valid JSON", param="body") from None


def _messages(target: Target, call: ParsedCall) -> list[Message]:
    head: list[Message] = []
    if target.system_prompt:
        head.append(Message("system", target.system_prompt))
    if call.system:
        head.append(Message("system", call.system))
    return [*head, *call.messages] if head else list(call.messages)


async def answer(gateway: Gateway, dialect: Dialect, request: web.Request
                 ) -> web.StreamResponse:
    """One chat call in ``dialect``'s shapes: admitted, parsed, then answered whole or
    streamed (the events are closed however the stream ends)."""
    grant = await gateway.gate.admit(request.headers)
    call = dialect.parse(await read_json(request))
    if not call.stream:
        done = await gateway.complete(call, grant)
        return web.json_response(dialect.reply(call, done), headers=reply_headers(done))
    events = await gateway.open_stream(call, grant)
    try:
        return await send_sse(request, dialect.stream(call, events))
    finally:
        await events.aclose()
