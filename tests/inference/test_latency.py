"""The learned time to first token, and the hedge_after it gives each step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inference.config import InferenceSettings
from inference.health import HealthBoard
from inference.hedge import FLOOR_S, Hedging
from inference.latency import TtftWindow
from inference.step import Step
from tests.support.stack import seed_like_settings


def test_p95_is_the_nearest_rank_of_the_recent_window() -> None:
    window = TtftWindow(size=100, min_samples=5)
    for ms in range(1, 101):  # 1 ms … 100 ms, shuffled order does not matter
        window.observe("m", (101 - ms) / 1000)
    assert window.p95("m") == pytest.approx(0.095)
    for _ in range(100):  # the window keeps only the last 100 samples
        window.observe("m", 2.0)
    assert window.samples("m") == 100
    assert window.p95("m") == 2.0
    assert window.p95("other") is None


def test_no_p95_before_enough_samples_and_bad_samples_are_ignored() -> None:
    window = TtftWindow(size=10, min_samples=3)
    for value in (0.5, float("nan"), -1.0, float("inf"), 0.7):
        window.observe("m", value)
    assert (window.samples("m"), window.p95("m")) == (2, None)
    window.observe("m", 0.6)
    assert window.p95("m") == 0.7
    with pytest.raises(ValueError, match="min_samples"):
        TtftWindow(size=3, min_samples=4)


def settings(tmp_path: Path, **timeouts: Any) -> InferenceSettings:
    return seed_like_settings(mlx_url="http://127.0.0.1:9/v1", ollama_url="http://127.0.0.1:9",
                              anthropic_url="http://127.0.0.1:9", data_dir=tmp_path,
                              timeouts=timeouts)


def step(settings: InferenceSettings, route: str, depth: int) -> Step:
    alias = settings.routes[route][depth]
    return Step(route=route, depth=depth, alias=alias, node_name=settings.models[alias].node,
                node=settings.node_of(alias), model=settings.models[alias],
                timeouts=settings.step_timeouts(route, alias))


def hedging(settings: InferenceSettings, window: TtftWindow) -> Hedging:
    return Hedging(settings, HealthBoard(settings.health, settings.nodes), window)


def test_auto_is_twice_the_learned_p95_with_a_floor_of_one_second(tmp_path: Path) -> None:
    config = settings(tmp_path, first_token=10, total=30)
    window = TtftWindow(size=50, min_samples=5)
    policy = hedging(config, window)
    mlx = step(config, "smart-agent", 0)
    # nothing learned yet: half the first-token timeout
    assert policy.patience(mlx) == policy.delay(mlx) == 5.0
    for _ in range(5):
        window.observe("mlx-qwen", 0.05)  # a fast model: the floor applies
    assert policy.patience(mlx) == FLOOR_S == 1.0
    for _ in range(50):
        window.observe("mlx-qwen", 1.5)
    assert policy.patience(mlx) == policy.delay(mlx) == 3.0
    for _ in range(50):
        window.observe("mlx-qwen", 6.0)  # 12 s is past the 10 s first-token deadline
    assert policy.patience(mlx) == 12.0
    assert policy.delay(mlx) is None  # the deadline fails over first: no hedge


def test_a_set_value_off_and_cloud_steps(tmp_path: Path) -> None:
    config = settings(tmp_path, hedge_after=0.3,
                      routes={"chief-monitor": {"hedge_after": "off"}})
    policy = hedging(config, TtftWindow())
    smart = [step(config, "smart-agent", depth) for depth in range(3)]
    assert policy.delay(smart[0]) == policy.delay(smart[1]) == 0.3
    assert policy.delay(smart[2]) is None  # never hedge away from a cloud step
    assert policy.may_join(smart[1], [smart[0]])
    assert not policy.may_join(smart[2], [smart[0]])  # hedge_cloud is off
    assert not policy.may_join(smart[0], [smart[0]])  # never twice on one node
    assert policy.delay(step(config, "chief-monitor", 0)) is None
