"""A gateway for tests: the real app over a real inference stack, on a loopback port.

``LocalGate`` admits every request as the ``local`` key (what a gateway with no key store
does); pass another :class:`~gateway.access.Gatekeeper` to test keys. With ``metrics`` the
app reports its requests and serves ``GET /metrics`` as ``homecrew serve``'s does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from gateway.access import LOCAL_KEY, Gatekeeper, Grant
from gateway.app import create_app
from gateway.calls import Gateway
from gateway.catalog import AgentEntry, Catalog
from gateway.config import GatewaySettings
from gateway.metrics import GatewayMetrics, request_metrics
from gateway.metrics import routes as metrics_routes
from gateway.server import serving
from inference.config import InferenceSettings
from inference.runtime import InferenceStack

__all__ = ["LocalGate", "RunningGateway", "running_gateway"]


class LocalGate:
    """Admits everyone as the ``local`` key."""

    async def admit(self, headers: Mapping[str, str]) -> Grant:
        return Grant(LOCAL_KEY)


@dataclass(frozen=True)
class RunningGateway:
    url: str  # http://127.0.0.1:PORT
    stack: InferenceStack

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


@asynccontextmanager
async def running_gateway(
    settings: InferenceSettings,
    *,
    agents: Sequence[AgentEntry] = (),
    gateway: GatewaySettings | None = None,
    gate: Gatekeeper | None = None,
    metrics: GatewayMetrics | None = None,
) -> AsyncIterator[RunningGateway]:
    """The gateway over a fresh stack (no background probes) for ``settings``."""
    async with InferenceStack.open(settings, probes=False) as stack:
        core = Gateway(gateway or GatewaySettings(), stack, Catalog(settings, agents),
                       gate or LocalGate())
        if metrics is None:
            app = create_app(core)
        else:
            stack.sink.add(metrics)
            app = create_app(core, middlewares=[request_metrics(metrics)],
                             extra_routes=metrics_routes(metrics))
        async with serving(app, "127.0.0.1", 0, has_keys=False, shutdown_timeout=1) as at:
            yield RunningGateway(at.url, stack)
