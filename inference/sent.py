"""A signal from the innermost edge that a model request is on the wire.

Callers that care (the team engine's start-up gate) register a callback for the current
context with :func:`notify_when_sent`; the edge that writes a request calls
:func:`request_sent`. The callback is carried by a context variable, so it follows the
call into the tasks and generators it runs in, and concurrent calls never see each
other's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["notify_when_sent", "request_sent"]

_listener: ContextVar[Callable[[], None] | None] = ContextVar("homecrew_request_sent",
                                                               default=None)


@contextmanager
def notify_when_sent(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` each time a model request made in this context is sent."""
    token = _listener.set(callback)
    try:
        yield
    finally:
        _listener.reset(token)


def request_sent() -> None:
    """Called by an edge once it has written a request (headers on the wire)."""
    callback = _listener.get()
    if callback is not None:
        callback()
