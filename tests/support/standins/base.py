"""Shared machinery of the stand-in servers: start/stop, request recording, scripted replies.

A protocol module subclasses :class:`StandinServer` (routes + error shape) and describes how a
reply looks on the wire with a :class:`StreamCodec` and a JSON body builder; the base class plays
the :class:`~tests.support.standins.script.Script` (delays, chunking, failures) the same way for
every protocol.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from .script import (
    CutAfterFirstChunk,
    ErrorMidStream,
    Hang,
    HttpError,
    Script,
    ScriptedCall,
    Usage,
)

__all__ = ["RecordedRequest", "Rejected", "Reply", "ReplyPlan", "StandinServer", "StreamCodec"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServerStopped(Exception):
    """Raised inside a handler that was waiting when its server stopped."""


class Rejected(Exception):
    """Raised by a handler to answer with ``response`` (a protocol-shaped error)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: Any
    raw: bytes
    received_at: float


@dataclass(frozen=True)
class Reply:
    """The reply a script produced for one request, ready to be encoded by a protocol."""

    model: str
    text: str
    deltas: Sequence[str]
    usage: Usage
    tool_calls: Sequence[ScriptedCall] = ()


class StreamCodec(ABC):
    """How one protocol frames a streamed reply."""

    content_type: ClassVar[str]
    headers_first: ClassVar[bool] = True
    keepalive_count: int = 0

    def opening(self) -> list[bytes]:
        """Frames sent as soon as the headers are out (before the first-token wait)."""
        return []

    def keepalive(self, index: int, count: int) -> bytes:
        """A frame sent while waiting for the first token (``keepalive_count`` of them)."""
        raise NotImplementedError

    @abstractmethod
    def delta(self, text: str, index: int) -> bytes: ...

    def tool_calls(self) -> list[bytes]:
        """Frames with the reply's tool calls, sent after its text (none by default)."""
        return []

    @abstractmethod
    def error(self, message: str | None) -> bytes: ...

    @abstractmethod
    def closing(self) -> list[bytes]: ...


@dataclass(frozen=True)
class ReplyPlan:
    """What a protocol handler asks the base class to play for one completion request."""

    stream: bool
    model: str
    prompt_words: int
    codec: Callable[[Reply], StreamCodec]
    body: Callable[[Reply], Any]


class StandinServer(ABC):
    """An aiohttp server on loopback that records requests and plays scripted replies.

    Use as ``async with SomeStandin() as server:``; ``server.script`` is the default behaviour,
    ``server.queue(...)`` adds one-shot scripts used (in order) by the next completion requests.
    ``max_in_flight`` makes completion requests beyond that many concurrent ones get the
    protocol's "busy" answer. A client that goes away before its reply is complete stops the
    reply (as real servers stop generating) and is counted in ``disconnects``. Setting
    ``tls`` (a server SSL context) before ``start()`` serves HTTPS instead.
    """

    busy_status: ClassVar[int] = 503

    def __init__(
        self,
        *,
        script: Script | None = None,
        max_in_flight: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.script = script if script is not None else Script()
        self.max_in_flight = max_in_flight
        self.requests: list[RecordedRequest] = []
        self._queued: deque[Script] = deque()
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._recorded = asyncio.Event()
        self._in_flight = 0
        self.disconnects = 0
        self._disconnected = asyncio.Event()
        # While set to an unset Event, completions wait for it before their first token
        # (so a test can see which requests are in flight together, without timing).
        self.first_token_gate: asyncio.Event | None = None
        self.tls: ssl.SSLContext | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("stand-in server is not running")
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        """Start listening; after a ``stop()`` this starts again on the same port."""
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._record])
        app.add_routes(self.routes())
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
                               handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, ssl_context=self.tls)
        await site.start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and drop every connection (waiting handlers end at once)."""
        self._stopping.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- scripting and recording -----------------------------------------------------------

    def queue(self, *scripts: Script) -> None:
        """Use these scripts, one per completion request, before falling back to ``script``."""
        self._queued.extend(scripts)

    def next_script(self) -> Script:
        return self._queued.popleft() if self._queued else self.script

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    async def wait_for_requests(self, count: int, path: str | None = None) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests (to ``path``, if given) have arrived.

        Unbounded: wrap it in ``asyncio.timeout``.
        """
        while True:
            seen = self.requests if path is None else self.requests_to(path)
            if len(seen) >= count:
                return seen
            await self._recorded.wait()

    async def wait_for_disconnects(self, count: int) -> None:
        """Wait until ``count`` clients went away mid-reply (unbounded: use ``asyncio.timeout``)."""
        while self.disconnects < count:
            await self._disconnected.wait()

    def _client_gone(self) -> None:
        self.disconnects += 1
        self._disconnected.set()
        self._disconnected = asyncio.Event()

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                body=body,
                raw=raw,
                received_at=time.monotonic(),
            )
        )
        self._recorded.set()
        self._recorded = asyncio.Event()
        try:
            return await handler(request)
        except Rejected as rejected:
            return rejected.response
        except (ServerStopped, ConnectionResetError) as exc:
            # The server is stopping, or the client went away mid-reply: drop quietly.
            if isinstance(exc, ConnectionResetError):
                self._client_gone()
            self._drop(request)
            raise asyncio.CancelledError from None

    # -- protocol hooks --------------------------------------------------------------------

    @abstractmethod
    def routes(self) -> list[web.RouteDef]: ...

    @abstractmethod
    def error_response(self, status: int, message: str | None = None) -> web.Response:
        """The protocol's error answer for ``status`` (default message when ``None``)."""

    # -- helpers for protocol handlers -----------------------------------------------------

    async def held(self) -> None:
        """Wait while :attr:`first_token_gate` is closed; raises on shutdown."""
        gate = self.first_token_gate
        if gate is None or gate.is_set():
            return
        stopping = asyncio.ensure_future(self._stopping.wait())
        opened = asyncio.ensure_future(gate.wait())
        try:
            await asyncio.wait({stopping, opened}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            opened.cancel()
        if not gate.is_set():
            raise ServerStopped

    async def pause(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (``None``: forever); raises :class:`ServerStopped` on shutdown."""
        if seconds is not None and seconds <= 0:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            return
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                self._client_gone()  # the handler is cancelled when its client goes away
            raise
        raise ServerStopped

    async def hold(self, gate: asyncio.Event | None) -> None:
        """Wait for ``gate`` (``None``: not at all); raises :class:`ServerStopped` on shutdown."""
        if gate is None or gate.is_set():
            return
        stopping = asyncio.ensure_future(self._stopping.wait())
        opened = asyncio.ensure_future(gate.wait())
        try:
            await asyncio.wait([stopping, opened], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                self._client_gone()
            raise
        finally:
            stopping.cancel()
            opened.cancel()
        if not gate.is_set():
            raise ServerStopped

    async def read_json(self, request: web.Request) -> Any:
        """The request's JSON body; rejects the request with the protocol's 400 otherwise."""
        try:
            return json.loads(await request.read())
        except ValueError:
            raise Rejected(self.error_response(400, "invalid JSON body")) from None

    async def serve_reply(self, request: web.Request, plan: ReplyPlan) -> web.StreamResponse:
        """Play the next script for a completion request."""
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            return self.error_response(self.busy_status)
        script = self.next_script()
        self._in_flight += 1
        try:
            return await self._play(request, script, plan)
        finally:
            self._in_flight -= 1

    async def serve_document(
        self, request: web.Request, answer: Callable[[Script], Any]
    ) -> web.StreamResponse:
        """Play the next script for a request answered with one JSON document (embeddings):
        ``answer(script)`` is the body; the script's failures, delays and gates apply
        (``first_token_delay`` / ``first_token_gate`` hold the whole answer)."""
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            return self.error_response(self.busy_status)
        script = self.next_script()
        self._in_flight += 1
        try:
            if isinstance(script.failure, HttpError):
                return self._http_error(script.failure)
            if isinstance(script.failure, Hang):
                await self.pause(None)
            return await self._complete(request, script, answer(script))
        finally:
            self._in_flight -= 1

    async def _play(
        self, request: web.Request, script: Script, plan: ReplyPlan
    ) -> web.StreamResponse:
        failure = script.failure
        if isinstance(failure, HttpError):
            return self._http_error(failure)
        if isinstance(failure, Hang):
            await self.pause(None)
        text = (script.next_reply() if script.answer is None
                else script.answer(await self._last_text(request)))
        deltas = script.deltas(text)
        reply = Reply(plan.model, text, deltas, script.usage(plan.prompt_words, deltas),
                      tuple(script.tool_calls))
        if plan.stream:
            return await self._stream(request, script, plan.codec(reply), deltas)
        return await self._complete(request, script, plan.body(reply))

    async def _last_text(self, request: web.Request) -> str:
        """The text of the request's last chat message ("" when there is none)."""
        try:
            messages = json.loads(await request.read()).get("messages") or []
        except (ValueError, AttributeError):
            return ""
        content = messages[-1].get("content") if messages else ""
        return content if isinstance(content, str) else json.dumps(content)

    def _http_error(self, failure: HttpError) -> web.Response:
        if failure.body is None:
            return self.error_response(failure.status, failure.message)
        if isinstance(failure.body, str | bytes):
            return web.Response(status=failure.status, body=failure.body)
        return web.json_response(failure.body, status=failure.status)

    async def _complete(
        self, request: web.Request, script: Script, body: Any
    ) -> web.StreamResponse:
        await self.held()
        await self.pause(script.first_token_delay)
        await self.hold(script.first_token_gate)
        if isinstance(script.failure, ErrorMidStream):
            return self.error_response(500, script.failure.message)
        data = json.dumps(body).encode()
        if not isinstance(script.failure, CutAfterFirstChunk):
            return web.Response(body=data, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])
        await self._cut(request)
        return resp

    async def _stream(
        self, request: web.Request, script: Script, codec: StreamCodec, deltas: Sequence[str]
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": codec.content_type, "Cache-Control": "no-cache"}
        )
        await self.held()
        headers_first = (
            codec.headers_first if script.headers_first is None else script.headers_first
        )
        if headers_first:
            await self._open_stream(request, resp, codec)
            await self._wait_first_token(resp, codec, script.first_token_delay)
            await self.hold(script.first_token_gate)
        else:
            await self.pause(script.first_token_delay)
            await self.hold(script.first_token_gate)
            await self._open_stream(request, resp, codec)
        failing = isinstance(script.failure, CutAfterFirstChunk | ErrorMidStream)
        for index, delta in enumerate(deltas[:1] if failing else deltas):
            if index:
                await self.pause(script.chunk_delay)
            await resp.write(codec.delta(delta, index))
        if isinstance(script.failure, CutAfterFirstChunk):
            await self._cut(request)
            return resp
        frames = (
            [codec.error(script.failure.message)]
            if isinstance(script.failure, ErrorMidStream)
            else [*codec.tool_calls(), *codec.closing()]
        )
        for frame in frames:
            await resp.write(frame)
        await resp.write_eof()
        return resp

    async def _open_stream(
        self, request: web.Request, resp: web.StreamResponse, codec: StreamCodec
    ) -> None:
        await resp.prepare(request)
        for frame in codec.opening():
            await resp.write(frame)

    async def _wait_first_token(
        self, resp: web.StreamResponse, codec: StreamCodec, delay: float
    ) -> None:
        count = codec.keepalive_count
        if count <= 0:
            await self.pause(delay)
            return
        for index in range(count):
            await resp.write(codec.keepalive(index, count))
            await self.pause(delay / count)

    async def _cut(self, request: web.Request) -> None:
        """Drop the connection once what was written has left the socket buffer."""
        transport = request.transport
        for _ in range(100):
            if transport is None or transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.001)
        self._drop(request)
        raise asyncio.CancelledError

    @staticmethod
    def _drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.abort()
