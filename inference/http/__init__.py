"""A small HTTP/1.1 client for model nodes: keep-alive connections, streamed bodies.

The native edge sends one POST per model call and reads the answer line by line (SSE or
NDJSON). A general-purpose client does much more per request than that needs (URL
parsing, cookies, tracing hooks, a payload registry, a task per write); this one knows
only what a model node needs (no cookies, redirects, proxies, compression or multipart).
The bot makes dozens of these calls in the same millisecond when a burst of messages
comes in, on one thread: with it the whole chain costs ~2.4 ms of CPU for a short
streamed request (``bench/overhead.py``, ``cpu_chain_ms``; 3.05 ms on aiohttp).

What it handles: ``http`` and ``https`` (verified TLS), bodies framed by
``Content-Length``, ``chunked`` or the connection closing, interim 1xx answers, a pool of
idle keep-alive connections per origin (reused only when the previous body was read to
its end, and not after 15 s idle), one retry on a fresh connection when a reused one
turns out to have been closed by the server before it answered, a connect timeout
(:class:`TimeoutError`), and read back-pressure. Anything else is an :class:`HttpError`.
"""

from inference.http._errors import HttpError
from inference.http._pool import HttpPool, Origin
from inference.http._response import MAX_BODY, Response

__all__ = ["MAX_BODY", "HttpError", "HttpPool", "Origin", "Response"]
