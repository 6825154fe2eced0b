"""Circuit breaker and probes: open nodes cost nothing, recovery is noticed quickly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inference.config import HealthConfig, InferenceSettings
from inference.errors import NodeTimeout, NodeUnavailable
from inference.health import CircuitState, HealthBoard
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ReplyDone
from tests.support.stack import make_settings
from tests.support.standins import OllamaStandin, OpenAIStandin, Script
from tests.support.waiting import wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def board(threshold: int = 3, cooldown: float = 10) -> tuple[HealthBoard, FakeClock]:
    clock = FakeClock()
    config = HealthConfig(failure_threshold=threshold, cooldown=cooldown)
    return HealthBoard(config, ["mlx", "ollama"], clock=clock), clock


def test_timeout_opens_at_once_other_failures_after_threshold() -> None:
    health, _ = board(threshold=3)
    health.record_failure("mlx", NodeUnavailable("500"))
    health.record_failure("mlx", NodeUnavailable("500"))
    assert health.get("mlx").state is CircuitState.CLOSED
    health.record_failure("mlx", NodeUnavailable("500"))
    assert health.get("mlx").state is CircuitState.OPEN
    health.record_failure("ollama", NodeTimeout("slow"))
    assert health.get("ollama").state is CircuitState.OPEN


def test_half_open_admits_one_trial_after_cooldown() -> None:
    health, clock = board(cooldown=10)
    health.record_failure("mlx", NodeTimeout("slow"))
    assert not health.acquire("mlx")
    clock.now += 10
    assert health.would_allow("mlx")
    assert health.acquire("mlx")  # the trial
    assert health.get("mlx").state is CircuitState.HALF_OPEN
    assert not health.acquire("mlx")  # only one at a time
    assert not health.would_allow("mlx")
    health.record_failure("mlx", NodeUnavailable("still down"))
    assert health.get("mlx").state is CircuitState.OPEN
    clock.now += 10
    assert not health.acquire("mlx"), "a failed trial doubles the cool-down"
    clock.now += 10
    assert health.acquire("mlx")
    health.record_success("mlx")
    assert health.get("mlx").state is CircuitState.CLOSED
    assert health.acquire("mlx")
    assert health.cooldown_of("mlx") == 10


def test_failed_trials_back_off_up_to_cooldown_max() -> None:
    clock = FakeClock()
    health = HealthBoard(HealthConfig(cooldown=10, cooldown_max=35), ["mlx"], clock=clock)
    health.record_failure("mlx", NodeTimeout("slow"))
    waits = []
    for _ in range(4):
        waited = 0
        while not health.acquire("mlx"):
            clock.now += 1
            waited += 1
        waits.append(waited)
        health.record_failure("mlx", NodeTimeout("still wedged"))
    assert waits == [10, 20, 35, 35]
    for _ in range(2000):  # wedged for days: the cool-down stays at its cap
        clock.now += 35
        assert health.acquire("mlx")
        health.record_failure("mlx", NodeTimeout("still wedged"))
    assert health.cooldown_of("mlx") == 35


def test_a_probe_never_closes_a_circuit_a_request_opened() -> None:
    """A wedged node lists its models while its completions hang: probes prove nothing."""
    health, clock = board(cooldown=10)
    health.record_probe("mlx", True, 0.01, "1 model(s) listed")
    health.record_failure("mlx", NodeTimeout("no first token within 2s"))
    for _ in range(5):
        health.record_probe("mlx", True, 0.01, "1 model(s) listed")
        assert health.get("mlx").state is CircuitState.OPEN
        assert not health.would_allow("mlx")
    clock.now += 10
    assert health.acquire("mlx")
    health.record_probe("mlx", True, 0.01, "1 model(s) listed")
    assert health.get("mlx").state is CircuitState.HALF_OPEN, "only a real request closes it"
    health.record_success("mlx")
    assert health.get("mlx").state is CircuitState.CLOSED


def test_a_probe_that_sees_the_node_come_back_moves_it_to_half_open() -> None:
    health, _ = board(threshold=1, cooldown=1000)
    health.record_failure("mlx", NodeUnavailable("connection refused"))
    health.record_probe("mlx", False, None, "connection refused")
    assert not health.would_allow("mlx")
    health.record_probe("mlx", True, 0.01, "1 model(s) listed")
    assert health.get("mlx").state is CircuitState.HALF_OPEN
    assert health.get("mlx").up
    assert health.acquire("mlx")
    assert not health.acquire("mlx"), "one trial at a time"
    health.record_success("mlx")
    assert health.get("mlx").state is CircuitState.CLOSED


def test_failing_probes_hold_trials_back() -> None:
    """While a node does not even answer its probes, the probe is the trial."""
    health, clock = board(cooldown=10)
    health.record_failure("mlx", NodeTimeout("slow"))
    health.record_probe("mlx", False, None, "no answer within 2s")
    clock.now += 1000
    assert not health.would_allow("mlx")
    assert not health.acquire("mlx")


def test_probes_open_and_close_what_probes_alone_opened() -> None:
    health, _ = board()
    health.record_probe("mlx", False, None, "connection refused")
    assert health.get("mlx").state is CircuitState.OPEN
    assert "connection refused" in (health.get("mlx").last_error or "")
    health.record_probe("mlx", True, 0.01, "2 model(s) listed")
    assert health.get("mlx").state is CircuitState.CLOSED
    assert health.get("mlx").probe_latency_s == pytest.approx(0.01)


def test_a_late_failure_from_before_the_opening_keeps_the_trial() -> None:
    health, clock = board(cooldown=10)
    health.record_failure("mlx", NodeTimeout("slow"))
    clock.now += 10
    assert health.acquire("mlx")  # the trial is out
    health.record_failure("mlx", NodeTimeout("sent before it opened"), trial=False)
    assert health.get("mlx").state is CircuitState.HALF_OPEN
    assert not health.acquire("mlx"), "the trial is still out"
    health.record_success("mlx", trial=True)
    assert health.get("mlx").state is CircuitState.CLOSED


async def test_recovery_is_noticed_by_probes(tmp_path: Path) -> None:
    """A node that goes away is skipped; when it returns, probes bring it back quickly."""
    async with OllamaStandin(script=Script(reply="from ollama")) as ollama:
        mlx = OpenAIStandin(script=Script(reply="from mlx"))
        await mlx.start()
        port = mlx.port
        settings = make_settings(
            nodes={"mlx": {"kind": "openai", "base_url": f"{mlx.base_url}/v1"},
                   "ollama": {"kind": "ollama", "base_url": ollama.base_url}},
            models={"m": {"node": "mlx", "model": "mlx-community/Qwen2.5-14B-Instruct-4bit"},
                    "o": {"node": "ollama", "model": "qwen2.5:14b"}},
            routes={"smart-agent": ["m", "o"]},
            data_dir=tmp_path,
        )
        request = ChatRequest(route="smart-agent", messages=[Message("user", "hi")],
                              use_cache=False)
        async with InferenceStack.open(settings) as stack:
            assert (await stack.complete(request)).node == "mlx"
            await mlx.stop()
            async with asyncio.timeout(5):
                await stack.board.wait_for(lambda b: not b.get("mlx").up)
            assert stack.route_status("smart-agent").serving == "o"
            assert (await stack.complete(request)).node == "ollama"

            revived = OpenAIStandin(script=Script(reply="from mlx again"), port=port)
            await revived.start()
            try:
                async with asyncio.timeout(10):  # noticed by the probes, not by a request
                    await stack.board.wait_for(lambda b: b.get("mlx").up)
                done = await stack.complete(request)
                assert (done.node, done.text) == ("mlx", "from mlx again")
            finally:
                await revived.stop()


def wedged_settings(tmp_path: Path, wedged: OpenAIStandin, ollama: OllamaStandin,
                    cooldown: float) -> InferenceSettings:
    return make_settings(
        nodes={"mlx": {"kind": "openai", "base_url": f"{wedged.base_url}/v1"},
               "ollama": {"kind": "ollama", "base_url": ollama.base_url}},
        models={"m": {"node": "mlx", "model": "mlx-community/Qwen2.5-14B-Instruct-4bit",
                      "timeouts": {"first_token": 3}},
                "o": {"node": "ollama", "model": "qwen2.5:14b"}},
        routes={"smart-agent": ["m", "o"]},
        data_dir=tmp_path,
        health={"cooldown": cooldown, "probe_interval": 0.05, "probe_interval_open": 0.05},
        # The circuit rules on their own: a hedge would answer first and count the wedged
        # node's failures one by one (tests/inference/test_hedge.py covers that path).
        timeouts={"hedge_after": "off"},
    )


def ask_route(index: int) -> ChatRequest:
    return ChatRequest(route="smart-agent", messages=[Message("user", f"question {index}")],
                       use_cache=False)


def completions(node: OpenAIStandin) -> int:
    return len(node.requests_to("/v1/chat/completions"))


async def test_a_wedged_node_is_skipped_while_its_probes_pass(tmp_path: Path) -> None:
    """Its models endpoint answers, its completions hang: once the circuit is open, passing
    probes do not close it, and concurrent requests skip the node without a call."""
    async with (
        OllamaStandin(script=Script(reply="from ollama")) as ollama,
        OpenAIStandin(script=Script.hang()) as wedged,
        InferenceStack.open(wedged_settings(tmp_path, wedged, ollama, cooldown=600)) as stack,
    ):
        first = await stack.complete(ask_route(0))
        assert first.node == "ollama" and "timeout" in first.fell_back_from[0]
        assert stack.board.get("mlx").state is CircuitState.OPEN
        probes_before = len(wedged.requests_to("/v1/models"))
        async with asyncio.timeout(10):
            await wedged.wait_for_requests(probes_before + 5, "/v1/models")
        health = stack.board.get("mlx")
        assert health.probe_ok is True and health.state is CircuitState.OPEN

        done = await asyncio.gather(*(stack.complete(ask_route(i)) for i in range(1, 11)))
        assert {d.node for d in done} == {"ollama"}
        assert all("circuit_open" in d.fell_back_from[0] for d in done)
        assert completions(wedged) == 1, "no request went to the wedged node again"


async def test_a_wedged_node_gets_one_trial_per_half_open_period(tmp_path: Path) -> None:
    async with (
        OllamaStandin(script=Script(reply="from ollama")) as ollama,
        OpenAIStandin(script=Script.hang()) as wedged,
        InferenceStack.open(wedged_settings(tmp_path, wedged, ollama, cooldown=0.3)) as stack,
    ):
        assert (await stack.complete(ask_route(0))).node == "ollama"
        assert stack.board.get("mlx").state is CircuitState.OPEN
        await wait_until(lambda: stack.board.would_allow("mlx"), within=10,
                         what="the cool-down to end")

        tasks = [asyncio.create_task(stack.complete(ask_route(i))) for i in range(1, 11)]
        pending: set[asyncio.Task[ReplyDone]] = set(tasks)
        async with asyncio.timeout(30):
            while len(pending) > 1:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        assert completions(wedged) == 2, "exactly one trial reached the wedged node"
        assert not next(iter(pending)).done(), "nine answered while the trial still waited"
        done = [await task for task in tasks]
        assert {d.node for d in done} == {"ollama"}
        skipped = [d for d in done if "circuit_open" in d.fell_back_from[0]]
        assert len(skipped) == 9
        health = stack.board.get("mlx")
        assert health.state is CircuitState.OPEN and health.failed_trials == 1
        assert stack.board.cooldown_of("mlx") == pytest.approx(0.6)


def test_another_replicas_down_report_skips_the_node_until_it_expires() -> None:
    health, clock = board()
    health.report_remote("mlx", "replica-a", down=True, detail="connection refused", ttl=5)
    assert health.get("mlx").state is CircuitState.CLOSED, "the local circuit is untouched"
    assert not health.would_allow("mlx")
    assert not health.acquire("mlx")
    assert not health.get("mlx").up
    assert health.get("mlx").remote_down == "replica-a: connection refused"
    assert health.skip_reason("mlx") == "down at replica replica-a (connection refused)"
    assert health.would_allow("ollama")
    clock.now += 5
    assert health.would_allow("mlx")
    assert health.get("mlx").up
    assert health.get("mlx").remote_down is None


def test_a_remote_report_ends_when_its_replica_says_up_or_this_one_sees_the_node() -> None:
    health, _ = board()
    health.report_remote("mlx", "a", down=True, detail="timeout", ttl=60)
    health.report_remote("mlx", "b", down=True, detail="timeout", ttl=60)
    health.report_remote("mlx", "a", down=False)
    assert not health.would_allow("mlx"), "b still says it is down"
    health.report_remote("mlx", "b", down=False)
    assert health.would_allow("mlx")

    health.report_remote("mlx", "a", down=True, detail="timeout", ttl=60)
    health.record_success("mlx")  # it answered here
    assert health.would_allow("mlx")

    health.report_remote("mlx", "a", down=True, detail="connection refused", ttl=60)
    health.record_probe("mlx", True, 0.01, "1 model(s) listed")
    assert not health.would_allow("mlx"), "a passing probe proves nothing (wedged nodes pass)"
    health.record_probe("mlx", False, None, "connection refused")
    health.record_probe("mlx", True, 0.01, "1 model(s) listed")
    assert health.would_allow("mlx"), "seen coming back here"


def test_listeners_hear_local_state_changes_only() -> None:
    health, _ = board(threshold=1)
    heard: list[tuple[str, CircuitState, CircuitState]] = []
    health.add_listener(lambda before, after: heard.append((after.name, before.state,
                                                            after.state)))
    health.report_remote("mlx", "a", down=True, detail="x", ttl=60)
    health.report_remote("nowhere", "a", down=True, detail="x", ttl=60)  # unknown: ignored
    health.record_probe("ollama", True, 0.01, "ok")  # no state change
    health.record_failure("ollama", NodeUnavailable("refused"))
    health.record_success("ollama")
    assert heard == [("ollama", CircuitState.CLOSED, CircuitState.OPEN),
                     ("ollama", CircuitState.OPEN, CircuitState.CLOSED)]
