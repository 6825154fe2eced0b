"""The gateway's composition: settings and an inference stack → a listening gateway.

``homecrew serve`` (:func:`serve_gateway`) opens its own stack; ``homecrew bot`` with
``gateway.enabled`` opens the bot's stack the same way and serves the gateway over it, so
both share one cache, health board, budgets and ledger::

    async with open_gated_stack(settings) as gated, open_gateway(settings, gated) as at:
        print(at.url)

:func:`open_gated_stack` opens the key gate (:func:`gateway.gate.open_key_gate`) before the
:class:`InferenceStack`, whose step layers take the keys' budget layer and whose records
feed the keys' spend.

The agents the gateway offers as ``model`` names are the team's personas, with the system
prompt the team engine gives them (:func:`agent_entries`); an agent whose route is not
configured is left out with a warning (the gateway serves routes without a team).

Who may call is decided by the key gate: until a key exists (``homecrew keys create``),
every request is the ``local`` key's and the server binds loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from gateway.app import create_app
from gateway.calls import Gateway
from gateway.catalog import AgentEntry, Catalog
from gateway.gate import KeyGate, open_key_gate
from gateway.metrics import GatewayMetrics, request_metrics
from gateway.metrics import routes as metrics_routes
from gateway.server import Listening, serving
from homecrew.heap import frozen_start_up
from homecrew.replica_settings import replica_settings
from homecrew.settings import Settings
from inference.runtime import InferenceStack
from personas.loader import load_policy, load_roster
from team.prompts import system_prompt

__all__ = ["GatedStack", "agent_entries", "open_gated_stack", "open_gateway", "serve_gateway"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GatedStack:
    """An inference stack metered and budgeted per API key by ``gate``."""

    stack: InferenceStack
    gate: KeyGate


@asynccontextmanager
async def open_gated_stack(settings: Settings, *, probes: bool = True
                           ) -> AsyncIterator[GatedStack]:
    """The key gate, then the inference stack with the keys' budget layers (chat and
    embeddings) and spend sink."""
    async with (
        open_key_gate(settings) as gate,
        InferenceStack.open(settings, probes=probes, step_layers=[gate.budget_layer],
                            embed_layers=[gate.embed_budget_layer]) as stack,
    ):
        stack.sink.add(gate.spend)
        yield GatedStack(stack, gate)


def agent_entries(settings: Settings) -> list[AgentEntry]:
    """The team's agents with their routes and persona prompts."""
    roster = load_roster(settings.team.personas_dir)
    policy = load_policy(settings.team.rules_file, roster)
    entries = []
    for persona in roster:
        if persona.route not in settings.routes:
            log.warning("gateway: agent %s left out: her route %r is not configured",
                        persona.name, persona.route)
            continue
        if settings.is_embedding_route(persona.route):
            log.warning("gateway: agent %s left out: her route %r is an embedding route",
                        persona.name, persona.route)
            continue
        entries.append(AgentEntry(persona.name, persona.route,
                                  system_prompt(roster, policy, persona)))
    return entries


@asynccontextmanager
async def open_gateway(settings: Settings, gated: GatedStack, *, host: str | None = None,
                       port: int | None = None) -> AsyncIterator[Listening]:
    """The gateway over ``gated``, listening on ``host:port`` (default: ``gateway:``)."""
    stack = gated.stack
    catalog = Catalog(settings, agent_entries(settings))
    metrics = GatewayMetrics()
    stack.sink.add(metrics)
    gateway = Gateway(settings.gateway, stack, catalog, gated.gate)
    app = create_app(gateway, middlewares=[request_metrics(metrics)], extra_routes=(
        metrics_routes(metrics, before_scrape=lambda: metrics.observe_health(stack.health()))))
    async with serving(app, host or settings.gateway.host,
                       settings.gateway.port if port is None else port,
                       has_keys=await gated.gate.has_keys()) as listening:
        log.info("gateway listening on %s", listening.url)
        yield listening


async def serve_gateway(settings: Settings, env: Mapping[str, str], *, host: str | None = None,
                        port: int | None = None) -> int:
    """``homecrew serve``: the gateway until SIGINT/SIGTERM; one line once listening."""
    from bot.redaction import install_redaction
    from team.redaction import Redactor, secrets_of

    async with AsyncExitStack() as exits:
        exits.callback(install_redaction(Redactor(secrets_of(settings, env))))
        settings = replica_settings(settings)  # replicas share node health through Redis
        gated = await exits.enter_async_context(open_gated_stack(settings))
        listening = await exits.enter_async_context(
            open_gateway(settings, gated, host=host, port=port))
        exits.enter_context(frozen_start_up())
        print(f"homecrew: gateway listening on {listening.host}:{listening.port}", flush=True)
        await _until_signal()
    print("homecrew: gateway stopped", file=sys.stderr, flush=True)
    return 0


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
