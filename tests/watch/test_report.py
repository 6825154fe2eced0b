"""The daily spend report and the weekly summary: numbers from the ledger, a valid PNG, and
a schedule that fires once per slot across restarts (driven by a controllable clock)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.image
from PIL import Image

from homecrew.settings import Settings
from inference.records import LedgerRecord
from inference.runtime import InferenceStack
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin
from tests.watch.helpers import Clock, RecordingPoster, at, fields_of, make_settings, wait_until
from watch.engine import Watch
from watch.incidents import Incident
from watch.report import money
from watch.results import Status
from watch.scheduler import DAILY_JOB, SWEEP_JOB, WEEKLY_JOB, last_fire_time, report_triggers

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SLOT = at("2025-11-25 09:00")


def ledger_records() -> list[LedgerRecord]:
    t = SLOT - 3600

    def rec(**kw: Any) -> LedgerRecord:
        base: dict[str, Any] = {"ts": t, "route": "smart-agent", "node": "mlx",
                                "model": "mlx-qwen", "upstream_model": "qwen",
                                "prompt_tokens": 100, "completion_tokens": 50}
        return LedgerRecord(**{**base, **kw})

    return [
        *(rec(agent="skip", cloud_equivalent_usd=0.01, ts=t - i) for i in range(3)),
        *(rec(agent="nellie", route="nellie-research", node="ollama", model="ollama-qwen",
              cloud_equivalent_usd=0.02) for _ in range(2)),
        rec(agent="skip", node="anthropic", model="claude-sonnet", cloud=True, cost_usd=0.05,
            cloud_equivalent_usd=0.05, fallback_depth=2),
        rec(agent="chief", route="chief-monitor", model="mlx-phi", outcome="cache_hit",
            cache_hit=True),
        rec(agent="gonzo", route="gonzo-backend", node="ollama", model="ollama-coder",
            outcome="timeout", error="no first token", prompt_tokens=0, completion_tokens=0),
        rec(agent="jax", route="jax-creative", node="anthropic", model="claude-sonnet",
            cloud=True, cost_usd=0.2, cloud_equivalent_usd=0.2, fallback_depth=1),
        rec(agent="jax", route="jax-creative", node="anthropic", model="claude-sonnet",
            cloud=True, cost_usd=9.99, ts=SLOT - 25 * 3600),  # before the window
        rec(agent="jax", route="jax-creative", node="anthropic", model="claude-sonnet",
            cloud=True, cost_usd=7.77, ts=SLOT + 1),  # after it
    ]


def expected_numbers(records: list[LedgerRecord]) -> dict[str, str]:
    inside = [r for r in records if SLOT - 86400 <= r.ts < SLOT]
    answered = [r for r in inside if r.outcome in ("ok", "cache_hit")]
    ok = [r for r in inside if r.outcome == "ok"]
    cloud_ok = [r for r in ok if r.cloud]
    cost = sum(r.cost_usd for r in inside)
    cloud_only = sum(r.cloud_equivalent_usd for r in ok)
    share = (len(answered) - len(cloud_ok)) / len(answered)
    return {
        "Requests": f"{len(answered)} answered / {len(inside)} attempts",
        "Local share": f"{share:.1%} (target 95%) ⚠️",
        "Cloud spend": money(sum(r.cost_usd for r in inside if r.cloud)),
        "Total cost": money(cost),
        "Cloud-only would cost": money(cloud_only),
        "Savings": money(max(0.0, cloud_only - cost)),
        "Cache hit rate": f"{sum(r.cache_hit for r in inside) / len(answered):.1%}",
        "Fallbacks": str(sum(1 for r in ok if r.fallback_depth > 0)),
        "Failures": str(sum(1 for r in inside if r.outcome not in ("ok", "cache_hit"))),
    }


@asynccontextmanager
async def watching(settings: Settings, clock: Clock, poster: RecordingPoster,
                   *, schedule: bool = False) -> AsyncIterator[Watch]:
    async with InferenceStack.open(settings, probes=False) as stack, Watch.open(
        settings, settings.watch, stack=stack, poster=poster, clock=clock, schedule=schedule,
    ) as watch:
        yield watch


def settings_for(tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin,
                 claude: AnthropicStandin, **watch: Any) -> Settings:
    return make_settings(mlx_url=mlx.base_url, ollama_url=ollama.base_url,
                         anthropic_url=claude.base_url, data_dir=tmp_path, watch=watch)


async def fill_ledger(watch: Watch, records: list[LedgerRecord]) -> None:
    for record in records:
        watch.stack.ledger.record(record)
    await watch.stack.ledger.flush()


async def test_daily_report_numbers_match_the_ledger_and_the_chart_is_a_png(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude)
    clock, poster = Clock(SLOT + 30), RecordingPoster()
    records = ledger_records()
    async with watching(settings, clock, poster) as watch:
        await fill_ledger(watch, records)
        assert await watch.reports.run(DAILY_JOB) == "posted"
    assert poster.kinds() == ["report"], "the daily report goes to #chief only"
    [(channel, report)] = poster.posts
    assert channel == "chief"
    assert report.title == "📊 Daily spend report"
    assert fields_of(report) == expected_numbers(records)
    assert report.lines[0] == "Window: Mon 24 Nov 09:00 UTC → Tue 25 Nov 09:00 UTC"
    assert report.lines[1] == ("By agent: skip 4 req $0.0500 · nellie 2 req $0.0000 · "
                               "chief 1 req $0.0000 · gonzo 0 req $0.0000 · jax 1 req $0.2000")
    assert report.lines[3] == ("By node: mlx 4 req $0.0000 · ollama 2 req $0.0000 · "
                               "anthropic 2 req $0.2500")
    assert report.lines[report.lines.index("Top expensive calls:") + 1] == (
        "1. $0.2000 jax via jax-creative on anthropic (claude-sonnet), 100+50 tokens")
    [chart] = report.attachments
    assert (chart.filename, report.image) == ("spend.png", "spend.png")
    assert chart.data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(chart.data)) as image:
        image.verify()
        assert image.format == "PNG" and image.size == (1000, 900)
    pixels = matplotlib.image.imread(io.BytesIO(chart.data), format="png")
    assert pixels.shape[:2] == (900, 1000)
    assert pixels.std() > 0, "the chart is not blank"


async def test_daily_report_fires_once_across_restarts(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude,
                            schedule={"weekly_summary": None})
    clock = Clock(SLOT + 30)
    first = RecordingPoster()
    async with watching(settings, clock, first) as watch:
        assert await watch.reports.run(DAILY_JOB) == "posted"
        clock.advance(60)  # a late, coalesced second firing of the same slot
        assert await watch.reports.run(DAILY_JOB) == "already_ran"
    assert first.kinds() == ["report"]

    restarted = RecordingPoster()  # a restart later that morning: nothing to catch up
    async with watching(settings, clock, restarted, schedule=True) as watch:
        assert set(watch.scheduler.next_run_times()) == {SWEEP_JOB, DAILY_JOB}
    assert restarted.posts == []

    clock.now = at("2025-11-26 11:30")  # down over the next 09:00: run it once on start
    caught_up = RecordingPoster()
    async with watching(settings, clock, caught_up, schedule=True) as watch:
        last = await (await watch.store()).last_run(DAILY_JOB)
        assert last is not None
        assert (last.slot, last.status) == (at("2025-11-26 09:00"), "done")
    assert caught_up.kinds() == ["report"]
    assert caught_up.messages()[0].lines[0] == (
        "Window: Tue 25 Nov 09:00 UTC → Wed 26 Nov 09:00 UTC")

    again = RecordingPoster()
    async with watching(settings, clock, again, schedule=True):
        pass
    assert again.posts == []


async def test_a_failed_post_is_retried_on_the_next_start(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude, schedule={"weekly_summary": None})
    clock, broken = Clock(SLOT + 30), RecordingPoster()
    broken.failures_left = 3
    async with watching(settings, clock, broken) as watch:
        watch.outbox._backoff = 0.001
        assert await watch.reports.run(DAILY_JOB) == "failed"
    healed = RecordingPoster()
    async with watching(settings, clock, healed, schedule=True):
        pass
    assert healed.kinds() == ["report"]


async def test_scheduler_jobs_triggers_and_a_real_firing(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude, timezone="Europe/Berlin",
                            schedule={"misfire_grace_minutes": 20, "sweep_seconds": 3600})
    triggers = report_triggers(settings.watch)
    zone = settings.watch.zone
    now = datetime(2025, 11, 25, 9, 30, tzinfo=zone)
    daily = triggers[DAILY_JOB].get_next_fire_time(None, now)
    assert daily == datetime(2025, 11, 26, 9, 0, tzinfo=zone)
    assert last_fire_time(triggers[DAILY_JOB], now) == datetime(2025, 11, 25, 9, 0, tzinfo=zone)
    weekly = triggers[WEEKLY_JOB].get_next_fire_time(None, now)
    assert weekly == datetime(2025, 12, 1, 9, 0, tzinfo=zone)
    assert weekly.strftime("%A") == "Monday"
    assert last_fire_time(triggers[WEEKLY_JOB], now) == datetime(2025, 11, 24, 9, 0, tzinfo=zone)

    clock, poster = Clock(at("2025-11-24 08:30")), RecordingPoster()  # 09:30 in Berlin
    async with watching(settings, clock, poster, schedule=True) as watch:
        jobs = {job.id: job for job in watch.scheduler.scheduler.get_jobs()}
        assert set(jobs) == {SWEEP_JOB, DAILY_JOB, WEEKLY_JOB}
        for job in jobs.values():
            assert (job.coalesce, job.misfire_grace_time, job.max_instances) == (True, 1200, 1)
        assert poster.kinds() == ["report", "report"], "both missed slots caught up once"
        assert watch.latest is None
        watch.scheduler.scheduler.modify_job(SWEEP_JOB, next_run_time=datetime.now(zone))
        await wait_until(lambda: watch.latest is not None, what="the scheduled sweep")
        await wait_until(
            lambda: watch.metrics.job_runs.labels(job=SWEEP_JOB, status="ok")._value.get() == 1,
            what="the sweep's run to be counted")


async def test_weekly_summary_lists_the_weeks_incidents(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude)
    monday = at("2025-11-24 09:00")
    clock, poster = Clock(monday + 5), RecordingPoster()
    async with watching(settings, clock, poster) as watch:
        await fill_ledger(watch, ledger_records())
        store = await watch.store()
        opened = monday - 2 * 86400
        await store.save(Incident("a" * 32, "node:mlx", Status.CRITICAL, "mlx down", "refused",
                                  opened - 180, opened, opened, closed_at=opened + 660))
        assert await watch.reports.run(WEEKLY_JOB) == "posted"
    [report] = poster.messages("chief")
    assert report.title == "📊 Weekly summary"
    assert report.lines[0] == "Window: Mon 17 Nov 09:00 UTC → Mon 24 Nov 09:00 UTC"
    assert report.lines[-1] == "Incidents: 1 (1 critical); longest 14 min: mlx down"


async def test_a_watch_opened_unscheduled_catches_up_when_started(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude, schedule={"weekly_summary": None})
    clock, poster = Clock(SLOT + 600), RecordingPoster()
    async with watching(settings, clock, poster) as watch:
        assert not watch.scheduler.scheduler.running
        assert poster.posts == [], "nothing is posted before the bot can post"
        await watch.start()
        await watch.start()
        assert watch.scheduler.scheduler.running
        assert poster.kinds() == ["report"]
