"""Assemble the chain from settings: health, probes, cache, ledger and the LiteLLM edge.

The call path, outermost first::

    CachingResponder → Chain (+ Hedging) → [extra step layers] → BudgetGate → HealthGate → Metered
        → Deadlines → NodeCaller → NativeCaller (local OpenAI-compatible / Ollama nodes)
                                 → LiteLLMCaller (cloud nodes, and any node with client: litellm)

and of an embedding call (:meth:`InferenceStack.embed`, see :mod:`inference.embed`)::

    EmbedChain → EmbedBudgetGate → EmbedHealthGate → EmbedMetered → EmbedDeadlines
        → NativeEmbedder

Both share the health board, the budgets, the pricing and the record sink (ledger).

``InferenceStack.open`` owns every background task (probe loops, ledger writer, and the
shared-health sync when ``health.shared_redis_url`` is set) and closes them on exit.
Probes run alongside the work, never before it: a one-shot command probes only the nodes
it may use (``probe_nodes``, see :func:`route_nodes`), so a hung node elsewhere in the
config costs it nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Sequence
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass

from inference._litellm import LiteLLMCaller, litellm_model_name, litellm_price
from inference.budget import BudgetGate, BudgetKeeper
from inference.cache import CachingResponder, MemoryCache, RedisCache, ResponseCache
from inference.chain import Chain
from inference.config import InferenceSettings, ModelConfig, NodeConfig, Price
from inference.deadlines import Deadlines
from inference.embed import (
    EmbedBudgetGate,
    EmbedChain,
    EmbedDeadlines,
    EmbedHealthGate,
    EmbedMetered,
)
from inference.errors import StoreError
from inference.health import HealthBoard, HealthGate, NodeHealth
from inference.hedge import Hedging
from inference.ledger import Ledger
from inference.metering import Metered
from inference.native import NativeCaller, NativeEmbedder, NodeCaller, uses_native_client
from inference.node_http import NodeHttp
from inference.pricing import Pricing
from inference.probes import Prober
from inference.records import FanOut
from inference.shared_health import SharedHealth
from inference.step import EmbedCaller, StepCaller
from inference.types import ChatRequest, EmbedRequest, EmbedResult, ReplyDone, StreamEvent
from store import Database

__all__ = ["EmbedLayer", "InferenceStack", "RouteStatus", "StepLayer", "route_nodes"]

StepLayer = Callable[[StepCaller], StepCaller]
EmbedLayer = Callable[[EmbedCaller], EmbedCaller]  # the embedding calls' counterpart
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouteStatus:
    route: str
    steps: tuple[tuple[str, str, bool], ...]  # (model alias, node, would be tried now)
    serving: str | None  # the alias that would answer now (first allowed step)


def _price_lookup(node: NodeConfig, model: ModelConfig) -> Price | None:
    return litellm_price(litellm_model_name(node, model))


class InferenceStack:
    def __init__(
        self,
        settings: InferenceSettings,
        *,
        board: HealthBoard,
        prober: Prober,
        cache: ResponseCache,
        ledger: Ledger,
        budgets: BudgetKeeper,
        sink: FanOut,
        chain: Chain,
        responder: CachingResponder,
        embedder: EmbedChain,
        shared_health: SharedHealth | None = None,
    ) -> None:
        self.settings = settings
        self.board = board
        self.prober = prober
        self.cache = cache
        self.ledger = ledger
        self.budgets = budgets
        self.sink = sink  # add sinks (e.g. metrics) to see every attempt record
        self.chain = chain
        self.embedder = embedder
        self._responder = responder
        self.shared_health = shared_health  # None: node health is this process's own

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: InferenceSettings,
        *,
        probes: bool = True,
        probe_nodes: Collection[str] | None = None,
        step_layers: Sequence[StepLayer] = (),
        embed_layers: Sequence[EmbedLayer] = (),
    ) -> AsyncIterator[InferenceStack]:
        """The assembled chain; with ``probes`` its background probe loops (of every node,
        or only ``probe_nodes``) start at once, concurrently with the caller's work.
        ``step_layers`` wrap each chat step's layers (outermost last), ``embed_layers``
        each embedding step's (e.g. an API key's budget, which gates both)."""
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(NodeHttp.open())
            board = HealthBoard(settings.health, settings.nodes)
            prober = Prober(settings.nodes, board, settings.health, http)
            shared = _start_shared_health(stack, settings, board)
            cache = _make_cache(settings)
            stack.push_async_callback(cache.close)
            ledger = await stack.enter_async_context(Ledger.for_settings(settings))
            budgets = BudgetKeeper(settings.budgets)
            if budgets.active:
                await _seed_budgets(budgets, ledger)
            sink = FanOut(ledger, budgets)
            pricing = Pricing(settings, _price_lookup)
            caller: StepCaller = Metered(
                Deadlines(await stack.enter_async_context(_edge(settings, http))), sink,
                pricing,
            )
            caller = BudgetGate(HealthGate(caller, board), budgets)
            for layer in step_layers:
                caller = layer(caller)
            hedging = Hedging(settings, board)
            stack.push_async_callback(hedging.aclose)
            chain = Chain(settings, caller, hedging=hedging)
            responder = CachingResponder(chain, cache, sink, settings.cache.ttl)
            embed_caller = _embed_layers(http, board, budgets, sink, pricing)
            for embed_layer in embed_layers:
                embed_caller = embed_layer(embed_caller)
            embedder = EmbedChain(settings, embed_caller)
            if probes:
                task = asyncio.create_task(prober.run(names=probe_nodes), name="health-probes")
                stack.push_async_callback(_cancel, task)
            yield cls(settings, board=board, prober=prober, cache=cache, ledger=ledger,
                      budgets=budgets, sink=sink, chain=chain, responder=responder,
                      embedder=embedder, shared_health=shared)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        async with aclosing(self._responder.stream(request)) as events:
            async for event in events:
                yield event

    async def complete(self, request: ChatRequest) -> ReplyDone:
        """The whole reply at once (falls through on any failure, see ``ChatRequest``)."""
        async with aclosing(self._responder.stream(request)) as events:
            async for event in events:
                if isinstance(event, ReplyDone):
                    return event
        raise AssertionError("the chain ended without a final record")

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        """One vector per input from the first step of the embedding route that answers."""
        return await self.embedder.embed(request)

    def route_status(self, route: str) -> RouteStatus:
        route_steps = (self.embedder.steps(route) if self.settings.is_embedding_route(route)
                       else self.chain.steps(route))
        steps = tuple(
            (step.alias, step.node_name, self.board.would_allow(step.node_name))
            for step in route_steps
        )
        serving = next((alias for alias, _, allowed in steps if allowed), None)
        return RouteStatus(route, steps, serving)

    def health(self) -> dict[str, NodeHealth]:
        return self.board.snapshot()

    async def database(self) -> Database:
        """The ledger's database (opened on first use)."""
        return await self.ledger.connect()


def route_nodes(settings: InferenceSettings, *routes: str) -> list[str]:
    """The nodes the steps of ``routes`` run on, in route order (unknown routes: none)."""
    names = (settings.models[alias].node for route in routes
             for alias in settings.routes.get(route, ()))
    return list(dict.fromkeys(names))


@asynccontextmanager
async def _edge(settings: InferenceSettings, http: NodeHttp) -> AsyncIterator[StepCaller]:
    """The innermost caller: native for the nodes it speaks to, LiteLLM for the rest."""
    native = NativeCaller(http)
    litellm: LiteLLMCaller | None = None
    if not all(uses_native_client(node) for node in settings.nodes.values()):
        litellm = LiteLLMCaller(settings)
    try:
        yield NodeCaller(native, litellm)
    finally:
        if litellm is not None:
            await litellm.aclose()


def _embed_layers(http: NodeHttp, board: HealthBoard, budgets: BudgetKeeper, sink: FanOut,
                  pricing: Pricing) -> EmbedCaller:
    """The layers of one embedding step, outermost first (as a chat step's)."""
    metered = EmbedMetered(EmbedDeadlines(NativeEmbedder(http)), sink, pricing)
    return EmbedBudgetGate(EmbedHealthGate(metered, board), budgets)


def _start_shared_health(stack: AsyncExitStack, settings: InferenceSettings,
                         board: HealthBoard) -> SharedHealth | None:
    """The shared-health sync, running until the stack closes (``None`` when not set)."""
    if settings.health.shared_redis_url is None:
        return None
    shared = SharedHealth.for_config(board, settings.health)
    task = asyncio.create_task(shared.run(), name="shared-health")
    stack.push_async_callback(_cancel, task)
    return shared


def _make_cache(settings: InferenceSettings) -> ResponseCache:
    if settings.cache.redis_url:
        return RedisCache(settings.cache.redis_url)
    return MemoryCache(settings.cache.max_entries, max_bytes=settings.cache.max_bytes)


async def _seed_budgets(budgets: BudgetKeeper, ledger: Ledger) -> None:
    try:
        async with asyncio.timeout(5):
            await budgets.seed(await ledger.connect())
    except (StoreError, TimeoutError) as exc:
        log.warning("budgets start from zero: the ledger is unreachable (%s)", exc)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
