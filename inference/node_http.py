"""The process's HTTP client for inference nodes: one streaming aiohttp ``ClientSession``.

:class:`NodeHttp` is opened once by whoever owns the process's inference stack
(:class:`inference.runtime.InferenceStack`) and passed down to the native step caller and
the health probes. Its session keeps connections alive between requests, never reads
proxies or credentials from the environment (``trust_env=False``: a node is reached
directly, at the configured address), keeps no cookies, and tells :mod:`inference.sent`
when each request is on its way. Each node's TLS settings (``nodes.<name>.tls``) give its
SSL context.
aiohttp's own limits bound what a node can send before the body: a head line or header of
at most 8190 bytes, at most 128 headers; its parser refuses a head with both
``Transfer-Encoding`` and ``Content-Length``, an overlong chunk size, and any header value
holding a line break that this side would send.

:func:`describe_client_error` turns aiohttp's and the socket layer's failures into short,
secret-free words, naming TLS failures as such.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import aiohttp

from inference.config import NodeConfig, NodeTls
from inference.sent import request_sent

__all__ = ["KEEPALIVE_S", "NodeHttp", "describe_client_error", "describe_tls", "ssl_context",
           "tls_failure"]

KEEPALIVE_S = 15.0  # an idle connection older than this is closed, not reused


class NodeHttp:
    """One ``ClientSession`` for every node, and each node's SSL context."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._contexts: dict[NodeTls, ssl.SSLContext | bool] = {}

    @classmethod
    @asynccontextmanager
    async def open(cls) -> AsyncIterator[NodeHttp]:
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_on_head_sent)
        trace.on_connection_reuseconn.append(_on_reused)
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S)
        session = aiohttp.ClientSession(
            connector=connector, trust_env=False, trace_configs=[trace],
            timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # nodes set no cookies worth keeping
        )
        try:
            yield cls(session)
        finally:
            await session.close()

    def ssl_for(self, node: NodeConfig) -> ssl.SSLContext | bool:
        """``True`` (the system's CAs), ``False`` (``verify: false``) or a context that
        trusts ``ca_file``; built once per distinct setting."""
        tls = node.tls
        if tls is None:
            return True
        context = self._contexts.get(tls)
        if context is None:
            context = ssl_context(tls)
            self._contexts[tls] = context
        return context


def ssl_context(tls: NodeTls | None) -> ssl.SSLContext | bool:
    """What a client's ``ssl``/``verify`` setting is for a node with these TLS settings."""
    if tls is None:
        return True
    if not tls.verify:
        return False
    if tls.ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(tls.ca_file))


async def _on_head_sent(_session: aiohttp.ClientSession, _context: SimpleNamespace,
                        _params: aiohttp.TraceRequestHeadersSentParams) -> None:
    """The request is on its way: its connection is ready and its head is handed over.

    aiohttp writes the head together with the body at the event loop's next turn (on
    Python 3.11 from a task of its own); signalling now lets the next turn waiting for a
    start-up slot begin without waiting for that turn of a busy loop. (A head aiohttp then
    refuses — a line break in a header value — is signalled too; that request fails at once.)
    """
    request_sent()


async def _on_reused(_session: aiohttp.ClientSession, context: SimpleNamespace,
                    _params: aiohttp.TraceConnectionReuseconnParams) -> None:
    """Marks the caller's ``trace_request_ctx`` (when it has a ``reused`` flag): the request
    went on an idle keep-alive connection, which the node may have closed meanwhile."""
    mark = getattr(context, "trace_request_ctx", None)
    if mark is not None and hasattr(mark, "reused"):
        mark.reused = True


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` (itself, what it wraps, its cause or context), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        inner: BaseException | None = current
        if isinstance(current, aiohttp.ClientConnectorCertificateError):
            inner = current.certificate_error
        elif isinstance(current, aiohttp.ClientConnectorError):
            inner = current.os_error
        if isinstance(inner, ssl.SSLError):
            return inner
        current = current.__cause__ or current.__context__
    return None


def describe_tls(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        why = error.verify_message or error.reason or "verification failed"
        return f"TLS failure: certificate not trusted ({why})"
    return f"TLS failure: {error.reason or type(error).__name__}"


def describe_client_error(exc: BaseException) -> str:
    """A short, secret-free description of a failure to talk to a node."""
    tls = tls_failure(exc)
    if tls is not None:
        return describe_tls(tls)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if exc.os_error.errno == errno.ECONNREFUSED:
            reason = "connection refused"
        else:
            reason = (exc.os_error.strerror or type(exc.os_error).__name__).lower()
        return f"cannot connect to {exc.host}:{exc.port}: {reason}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the node closed the connection"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"malformed HTTP answer: {_first_line(exc.message)}"[:300]
    if isinstance(exc, aiohttp.ClientPayloadError):
        cause = exc.__cause__ or exc.__context__
        return f"malformed HTTP body: {_first_line(str(cause or exc))}"[:300]
    if isinstance(exc, aiohttp.InvalidURL):
        return "not a valid URL"
    if isinstance(exc, ValueError) and "control character" in str(exc):
        return ("refused to send a request header holding a control character "
                "(a line break in the node's api_key?)")
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].rstrip(":") if lines else ""
