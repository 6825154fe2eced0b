"""Errors raised by the inference chain.

Hierarchy::

    InferenceError
    ├── ConfigError                 bad homecrew.yaml / .env (names file and key path)
    ├── UnknownRouteError           a route the config does not define (for this kind of call:
    │                               chat routes for chat, embedding routes for embeddings)
    ├── StepError                   one step (node + model) of a route failed
    │   ├── NodeUnavailable         connect refused/reset, 5xx, overloaded: fall through
    │   │   ├── NodeTimeout         connect or first-token timeout: fall through, open circuit
    │   │   ├── HedgeLost           no first token before a hedged step answered (see hedge.py)
    │   │   └── BudgetExceeded      a cloud step skipped because a spend limit is reached
    │   ├── ToolsUnsupported        the node's model cannot call tools: try the next step
    │   ├── DimensionsUnsupported   the embedding model ignored ``dimensions``: try the next step
    │   └── RequestRejected         400 / context too long / auth: never retried down the chain
    │       └── ContextTooLong
    ├── StreamInterrupted           a failure after the first token was committed to the caller
    └── AllStepsFailed              every step of a route failed; lists each step and why

``StoreError`` (``StoreUnavailable``, ``StoreRejected``) belongs to the store package
(:mod:`store.errors`, below this one) and is re-exported here for the ledger's callers; it
is not an ``InferenceError``.

Upstream exceptions are mapped to these once, at the two edges: ``inference._litellm``
(LiteLLM / httpx) and ``inference.native`` (aiohttp, TLS and the wire protocols); nothing
else in the package catches provider errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from store.errors import StoreError, StoreRejected, StoreUnavailable

__all__ = [
    "AllStepsFailed",
    "BudgetExceeded",
    "ConfigError",
    "ContextTooLong",
    "DimensionsUnsupported",
    "HedgeLost",
    "InferenceError",
    "NodeTimeout",
    "NodeUnavailable",
    "RequestRejected",
    "StepError",
    "StepFailure",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
    "StreamInterrupted",
    "ToolsUnsupported",
    "UnknownRouteError",
]


class InferenceError(Exception):
    """Base class of every error this package raises."""


class ConfigError(InferenceError):
    """The configuration is invalid; the message names the file and the key path."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ": ".join(part for part in (path, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class UnknownRouteError(InferenceError):
    """``kind`` narrows the words (``"chat"``, ``"embedding"``) when ``route`` exists but
    serves the other kind of call; ``known`` are then the routes of that kind."""

    def __init__(self, route: str, known: Sequence[str], *, kind: str = "") -> None:
        self.route = route
        what = f"{kind} route" if kind else "route"
        super().__init__(f"unknown {what} {route!r}; known {what}s: "
                         f"{', '.join(sorted(known)) or '(none)'}")


class StepError(InferenceError):
    """One step failed. ``kind`` is a short stable class name used in the ledger."""

    kind = "error"


class NodeUnavailable(StepError):
    kind = "unavailable"


class NodeTimeout(NodeUnavailable):
    kind = "timeout"


class HedgeLost(NodeUnavailable):
    """A step that had no first token when a step started beside it answered first.

    Counts as one node failure (not a timeout: the circuit opens after the threshold)."""

    kind = "hedge_lost"


class BudgetExceeded(NodeUnavailable):
    kind = "budget"


class ToolsUnsupported(StepError):
    """Tools were offered to a model that cannot call them on its node (``mlx_daemon``'s
    400 ``tools_unsupported``): not the request's fault, nor the node's — the next step
    of the route may take them."""

    kind = "tools_unsupported"


class DimensionsUnsupported(StepError):
    """An embedding model answered vectors of another length than the ``dimensions``
    asked for (it does not shorten them): the next step of the route may."""

    kind = "dimensions_unsupported"


class RequestRejected(StepError):
    kind = "rejected"


class ContextTooLong(RequestRejected):
    kind = "context_too_long"


class StreamInterrupted(InferenceError):
    """The reply was cut after text had already been delivered to the caller."""

    def __init__(self, node: str, reason: str) -> None:
        self.node = node
        self.reason = reason
        super().__init__(f"reply from {node} was interrupted: {reason}")


@dataclass(frozen=True, slots=True)
class StepFailure:
    model: str
    node: str
    reason: str
    kind: str


class AllStepsFailed(InferenceError):
    def __init__(self, route: str, failures: Sequence[StepFailure]) -> None:
        self.route = route
        self.failures = tuple(failures)
        lines = "; ".join(f"{f.model}@{f.node}: {f.reason}" for f in self.failures)
        super().__init__(f"every step of route {route!r} failed: {lines or 'no steps'}")

