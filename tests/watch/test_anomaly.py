"""Anomaly detection: a sustained rise in latency or error rate warns; spikes do not."""

from __future__ import annotations

from pathlib import Path

from inference.records import LedgerRecord
from inference.runtime import InferenceStack
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin
from tests.watch.helpers import Clock, RecordingPoster, at, make_settings
from watch.anomaly import AnomalyDetector
from watch.engine import Watch
from watch.results import CheckResult, Status
from watch.settings import AnomalySettings

START = at("2025-11-25 06:00")
CONFIG = AnomalySettings(min_baseline_buckets=10, sustain_minutes=5, bucket_seconds=60)


def record(ts: float, latency: float, outcome: str = "ok", node: str = "mlx") -> LedgerRecord:
    return LedgerRecord(ts=ts, route="smart-agent", node=node, model="mlx-qwen",
                        upstream_model="qwen", latency_s=latency * 3, ttft_s=latency,
                        outcome=outcome)


def feed_minute(detector: AnomalyDetector, minute: int, latency: float,
                outcome: str = "ok") -> None:
    base = START + minute * 60
    for i in range(6):
        jitter = 0.02 * ((i + minute) % 3)
        detector.record(record(base + i * 10, latency + jitter, outcome))


def latency_result(results: list[CheckResult]) -> CheckResult:
    [found] = [r for r in results if r.key == "anomaly/mlx/latency"]
    return found


def test_sustained_latency_rise_warns_and_a_spike_does_not() -> None:
    detector = AnomalyDetector(CONFIG, clock=lambda: START)
    for minute in range(30):
        feed_minute(detector, minute, 0.5)
    feed_minute(detector, 30, 3.0)  # a one-minute spike
    feed_minute(detector, 31, 0.5)
    for minute in (31, 32):
        assert latency_result(detector.evaluate(START + minute * 60 + 5)).status is Status.OK
    statuses = []
    for minute in range(32, 42):
        feed_minute(detector, minute, 2.5)
        statuses.append(latency_result(detector.evaluate(START + (minute + 1) * 60 + 5)))
    assert [r.status for r in statuses[:4]] == [Status.OK] * 4
    assert statuses[4].status is Status.WARN, "after 5 deviating minutes"
    warned = statuses[-1]
    assert warned.status is Status.WARN
    assert warned.numbers["z"] > 3
    assert warned.message.startswith("mlx time to first token anomaly: 2.5")
    assert warned.incident_subject == "anomaly:mlx:latency"


def test_error_rate_rise_warns_without_an_outage() -> None:
    detector = AnomalyDetector(CONFIG, clock=lambda: START)
    for minute in range(20):
        feed_minute(detector, minute, 0.5)
    for minute in range(20, 28):
        feed_minute(detector, minute, 0.5)
        for i in range(4):
            detector.record(record(START + minute * 60 + 1 + i, 0.0, outcome="timeout"))
    results = detector.evaluate(START + 28 * 60 + 5)
    [errors] = [r for r in results if r.key == "anomaly/mlx/errors"]
    assert errors.status is Status.WARN
    assert "error rate anomaly: 40%" in errors.message
    assert latency_result(results).status is Status.OK


def test_not_enough_history_is_no_judgement() -> None:
    detector = AnomalyDetector(CONFIG, clock=lambda: START)
    for minute in range(5):
        feed_minute(detector, minute, 0.5 if minute < 3 else 9.0)
    assert latency_result(detector.evaluate(START + 5 * 60 + 5)).message.endswith(
        "(no judgement yet)")


async def test_the_watch_warns_on_a_sustained_anomaly_fed_through_the_fanout(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = make_settings(mlx_url=mlx.base_url, ollama_url=ollama.base_url,
                             anthropic_url=claude.base_url, data_dir=tmp_path,
                             watch={"anomaly": {"enabled": True}})
    clock, poster = Clock(START), RecordingPoster()
    async with (
        InferenceStack.open(settings, probes=False) as stack,
        Watch.open(settings, settings.watch, stack=stack, poster=poster, clock=clock,
                   schedule=False) as watch,
    ):
        await stack.prober.probe_all()
        for minute in range(45):
            latency = 0.5 if minute < 30 else 4.0
            for i in range(6):
                stack.sink.record(record(START + minute * 60 + i * 10,
                                         latency + 0.03 * (i % 3)))
            await watch.sweep(START + (minute + 1) * 60 + 5)
        await watch.drain()
    assert poster.kinds("alerts") == ["warning"]
    warning = poster.messages("alerts")[0]
    assert warning.title.startswith("⚠️ WARNING: mlx time to first token anomaly")
    assert not warning.mention_role
    assert all(h.up for h in stack.board.snapshot().values()), "nothing is down"
