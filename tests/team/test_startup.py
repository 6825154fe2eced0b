"""Start-up slots: during a burst, turns start their model calls in arrival order, a few at
a time; a slot is held until the request is on the wire, or ``hold`` at most."""

from __future__ import annotations

import asyncio

from inference.runtime import InferenceStack
from inference.sent import request_sent
from team.config import TeamSettings
from team.engine import TeamEngine
from team.events import Started, TextDelta
from team.startup import StartupSlots
from tests.support.standins import OpenAIStandin, Script

from .helpers import drain


async def _turn(slots: StartupSlots, name: str, log: list[str], go: asyncio.Event,
                before_streaming: asyncio.Event | None = None,
                started: asyncio.Event | None = None) -> None:
    async with slots.slot():
        log.append(f"{name} starts")
        if started is not None:
            started.set()
        await go.wait()
        request_sent()
        log.append(f"{name} sent")
        if before_streaming is not None:  # still inside the turn: only a free slot lets b in
            async with asyncio.timeout(5):
                await before_streaming.wait()
        log.append(f"{name} streams")


async def test_a_slot_is_free_again_once_the_request_is_sent() -> None:
    slots = StartupSlots(1, hold=30.0)
    log: list[str] = []
    go_a, go_b, b_in, b_started = (asyncio.Event() for _ in range(4))

    a = asyncio.create_task(_turn(slots, "a", log, go_a, before_streaming=b_in))
    b = asyncio.create_task(_turn(slots, "b", log, go_b, started=b_started))
    for _ in range(5):
        await asyncio.sleep(0)
    assert log == ["a starts"], "b waits for a's request to go out"
    go_a.set()
    async with asyncio.timeout(5):
        await b_started.wait()  # b gets the slot while a is still in its turn
    b_in.set()
    go_b.set()
    await asyncio.gather(a, b)
    assert log.index("a sent") < log.index("b starts") < log.index("a streams")


async def test_a_slot_is_held_no_longer_than_hold() -> None:
    slots = StartupSlots(1, hold=0.05)
    stuck, second_started = asyncio.Event(), asyncio.Event()

    async def never_sends() -> None:
        async with slots.slot():
            await stuck.wait()

    async def second() -> None:
        async with slots.slot():
            second_started.set()

    first = asyncio.create_task(never_sends())
    await asyncio.sleep(0)
    other = asyncio.create_task(second())
    async with asyncio.timeout(5):
        await second_started.wait()
    assert not stuck.is_set() and not first.done()
    stuck.set()
    await asyncio.gather(first, other)


async def test_the_native_client_frees_the_slot_when_its_request_is_out(
    stack: InferenceStack, node: OpenAIStandin
) -> None:
    # One slot, held for up to 5 s, and a node that thinks 1.5 s: six turns finish within
    # 5 s only because the real client signals each request on the wire (without it they
    # would run one after another: 9 s); they reach the node in arrival order.
    node.script = Script(reply="ok", first_token_delay=1.5)
    settings = TeamSettings(startup_slots=1, startup_hold=5.0)
    async with TeamEngine.open(stack, settings) as engine:
        handles = [await engine.reply(f"burst-{i}", "nellie", f"question {i}", author="ana")
                   for i in range(6)]
        async with asyncio.timeout(5):
            results = await asyncio.gather(*(drain(h) for h in handles))
    arrivals = [r.received_at for r in node.requests_to("/v1/chat/completions")]
    asked = [r.body["messages"][-1]["content"] for r in node.requests_to("/v1/chat/completions")]
    assert asked == [f"ana: question {i}" for i in range(6)]
    assert arrivals == sorted(arrivals)
    assert all(record.status == "complete" for _, record in results)


async def test_the_engine_says_when_a_turn_starts(engine: TeamEngine,
                                                  node: OpenAIStandin) -> None:
    node.script = Script(reply="hello", first_token_delay=0.05)
    events, record = await drain(await engine.reply("c-start", "gonzo", "hi", author="ana"))
    kinds = [type(e) for e in events]
    assert kinds.count(Started) == 1
    assert kinds.index(Started) < kinds.index(TextDelta)
    assert record.status == "complete"
