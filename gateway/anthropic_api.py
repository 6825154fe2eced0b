"""Anthropic's Messages API (``POST /v1/messages``) as a :class:`~gateway.dialect.Dialect`.

The request is parsed by :mod:`gateway.anthropic_request`. The answer is a ``message``
object: ``msg_…`` id, the ``model`` name the client sent, ``text`` and ``tool_use`` content
blocks, ``stop_reason`` and ``usage``. Streamed, it is Anthropic's server-sent events::

    message_start, ping,
    (content_block_start, content_block_delta…, content_block_stop)…,
    message_delta (stop_reason, usage), message_stop

with ``text_delta`` pieces for text and one ``input_json_delta`` for each tool call (the
chain hands over a tool call whole). Nothing is sent before the chain's first event, so an
error before it is raised to the handler (and answered with its HTTP status); an error
after it, or a reply that broke off (``ReplyDone.interrupted``), ends the stream with an
``error`` event in Anthropic's shape, never a silent cut.

Frames are written from byte templates, with one ``json.dumps`` per frame.

:func:`routes` serves it as ``POST /v1/messages``, with its token counting,
``POST /v1/messages/count_tokens`` (:mod:`gateway.anthropic_count`). The key comes in
``x-api-key`` (what the SDK sends) or ``Authorization: Bearer``; ``anthropic-version`` and
``anthropic-beta`` are accepted and change nothing.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway import anthropic_count
from gateway.anthropic_request import parse_messages_request
from gateway.calls import Gateway, answer
from gateway.dialect import ParsedCall
from gateway.errors import GatewayError
from inference.types import ModelToolCall, ReplyDone, StreamEvent, TextDelta

__all__ = ["AnthropicDialect", "error_body", "routes", "stop_reason"]

log = logging.getLogger(__name__)

# the chain's finish reasons (OpenAI's words, as the nodes say them) in Anthropic's
_STOP_REASONS = {
    "stop": "end_turn",
    "end_turn": "end_turn",
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "tool_use": "tool_use",
    "content_filter": "refusal",
}
# one encoder, built once (``json.dumps`` with arguments builds one per call)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def stop_reason(done: ReplyDone) -> str:
    """Anthropic's ``stop_reason`` for the chain's finish. A node that stopped on a stop
    sequence says so as ``"stop"`` (OpenAI's word for both), so that reads ``end_turn``."""
    if done.tool_calls:
        return "tool_use"
    return _STOP_REASONS.get(done.finish_reason or "stop", "end_turn")


class AnthropicDialect:
    """Anthropic's request and response shapes (see the module's docstring)."""

    def parse(self, body: object) -> ParsedCall:
        return parse_messages_request(body)

    def reply(self, call: ParsedCall, done: ReplyDone) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if done.text or not done.tool_calls:
            content.append({"type": "text", "text": done.text})
        content.extend({"type": "tool_use", "id": tool.id, "name": tool.name,
                        "input": _tool_input(tool)} for tool in done.tool_calls)
        return {
            "id": _message_id(),
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": content,
            "stop_reason": stop_reason(done),
            "stop_sequence": None,
            "usage": {"input_tokens": done.prompt_tokens,
                      "output_tokens": done.completion_tokens},
        }

    def stream(self, call: ParsedCall, events: AsyncIterator[StreamEvent]
               ) -> AsyncIterator[bytes]:
        return _MessageStream(call.model).frames(events)

    def error(self, error: GatewayError) -> dict[str, Any]:
        return error_body(error)


def error_body(error: GatewayError) -> dict[str, Any]:
    """Anthropic's error body: ``{"type": "error", "error": {"type", "message"}}``."""
    return _error_body(error.anthropic_type, error.message)


DIALECT = AnthropicDialect()


def routes(gateway: Gateway) -> list[web.RouteDef]:
    """``POST /v1/messages`` and ``POST /v1/messages/count_tokens``."""

    async def messages(request: web.Request) -> web.StreamResponse:
        return await answer(gateway, DIALECT, request)

    return [web.post("/v1/messages", messages), *anthropic_count.routes(gateway)]


class _MessageStream:
    """One streamed message: which content block is open, and at which index."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._index = 0  # the index of the next block (or of the open text block)
        self._text_open = False
        self._text_prefix = b""

    async def frames(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
        started = False
        try:
            async for event in events:
                head = b"" if started else self._start()
                started = True
                if isinstance(event, TextDelta):
                    yield head + self._text(event.text)
                elif isinstance(event, ModelToolCall):
                    yield head + self._tool_call(event)
                else:
                    yield head + self._finish(event)
                    return
        except GatewayError as exc:
            if not started:
                raise  # nothing sent yet: the handler answers with the error's status
            yield _error_frame(exc.anthropic_type, exc.message)
            return
        except Exception:
            if not started:
                raise
            # the 200 is out: say so in the stream, never cut it silently
            log.exception("unexpected failure while streaming %s", self._model)
            yield _error_frame("api_error", "internal error")
            return
        # the chain always ends with a ReplyDone: its absence is a fault, said as such
        yield (b"" if started else self._start()) + _error_frame(
            "api_error", "the reply ended before it was complete")

    def _start(self) -> bytes:
        message: dict[str, Any] = {
            "id": _message_id(), "type": "message", "role": "assistant",
            "model": self._model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}
        return _frame("message_start", {"type": "message_start", "message": message}) + _PING

    def _text(self, text: str) -> bytes:
        head = b""
        if not self._text_open:
            head = _frame("content_block_start", {
                "type": "content_block_start", "index": self._index,
                "content_block": {"type": "text", "text": ""}})
            self._text_open = True
            self._text_prefix = (
                b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
                + str(self._index).encode() + b',"delta":{"type":"text_delta","text":')
        return (head + self._text_prefix + _dumps(text).encode()
                + b"}}\n\n")

    def _close_text(self) -> bytes:
        if not self._text_open:
            return b""
        self._text_open = False
        self._index += 1
        return _block_stop(self._index - 1)

    def _tool_call(self, call: ModelToolCall) -> bytes:
        head = self._close_text()
        index = self._index
        self._index += 1
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        delta = {"type": "input_json_delta",
                 "partial_json": _dumps(_tool_input(call))}
        return (head
                + _frame("content_block_start", {"type": "content_block_start",
                                                 "index": index, "content_block": block})
                + _frame("content_block_delta", {"type": "content_block_delta",
                                                 "index": index, "delta": delta})
                + _block_stop(index))

    def _finish(self, done: ReplyDone) -> bytes:
        if done.interrupted is not None:
            return _error_frame("api_error", f"the reply broke off: {done.interrupted}")
        head = b""
        if self._index == 0 and not self._text_open:
            head = self._text("")  # an empty answer is one empty text block, as unstreamed
        head += self._close_text()
        delta = {"type": "message_delta",
                 "delta": {"stop_reason": stop_reason(done), "stop_sequence": None},
                 "usage": {"input_tokens": done.prompt_tokens,
                           "output_tokens": done.completion_tokens}}
        return head + _frame("message_delta", delta) + _MESSAGE_STOP


def _tool_input(call: ModelToolCall) -> dict[str, Any]:
    """The call's arguments as the ``input`` object. Arguments the model wrote that are not
    a JSON object give ``{}`` (Anthropic's ``input`` is always one), with a warning."""
    decoded = call.decoded()
    if isinstance(decoded, dict):
        return decoded
    log.warning("tool call %s (%s): %s; sent with an empty input", call.id, call.name,
                decoded.reason)
    return {}


def _message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {_dumps(data)}\n\n".encode()


def _block_stop(index: int) -> bytes:
    return (b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
            + str(index).encode() + b"}\n\n")


def _error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _error_frame(kind: str, message: str) -> bytes:
    return _frame("error", _error_body(kind, message))
