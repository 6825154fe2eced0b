"""A node outage end to end: real chain and prober, real Redis and PostgreSQL, the watch.

Stop a stand-in node → exactly one RED ALERT after k sweeps (in #alerts and #chief), a
reminder after N minutes, ALL CLEAR with the duration after recovery; the incident is
persisted and the deployment gate's data follows it. Chief is silent while healthy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from homecrew.settings import Settings
from inference.runtime import InferenceStack
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin
from tests.watch.helpers import Clock, RecordingPoster, make_settings
from watch.engine import Watch
from watch.gate import ChiefClearance
from watch.incidents import Incident

MINUTE = 60.0


@asynccontextmanager
async def watching(settings: Settings, clock: Clock, poster: RecordingPoster,
                   **options: Any) -> AsyncIterator[Watch]:
    async with InferenceStack.open(settings) as stack, Watch.open(
        settings, settings.watch, stack=stack, poster=poster, clock=clock, schedule=False,
        **options,
    ) as watch:
        yield watch


async def sweeps(watch: Watch, clock: Clock, count: int) -> None:
    for _ in range(count):
        await watch.sweep(clock.advance(MINUTE))
    await watch.drain()


async def node_is(watch: Watch, node: str, *, up: bool) -> None:
    async with asyncio.timeout(10):
        await watch.stack.board.wait_for(lambda board: board.get(node).up is up)


def settings_for(tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin,
                 claude: AnthropicStandin, **extra: Any) -> Settings:
    return make_settings(mlx_url=mlx.base_url, ollama_url=ollama.base_url,
                         anthropic_url=claude.base_url, data_dir=tmp_path, **extra)


async def test_outage_alert_reminder_all_clear_on_redis_and_postgres(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
    redis_url: str, pg_database_url: str,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude, database_url=pg_database_url,
                            redis_url=redis_url)
    clock, poster = Clock(), RecordingPoster()
    async with watching(settings, clock, poster) as watch:
        checked = {r.key for r in (await watch.sweep(clock())).results}
        assert {"node/mlx", "ollama/ollama", "redis", "postgres", "ledger"} <= checked
        await sweeps(watch, clock, 4)
        assert poster.posts == []
        gate = ChiefClearance(watch)
        assert await gate.open_alerts() == ()
        assert await gate.health_checks_pass()

        await mlx.stop()
        await node_is(watch, "mlx", up=False)
        outage_began = clock.now + MINUTE
        await sweeps(watch, clock, 2)
        assert poster.posts == [], "flap suppression: no alert before k failing sweeps"
        await sweeps(watch, clock, 1)
        assert poster.kinds("alerts") == ["red_alert"]
        assert poster.kinds("chief") == ["red_alert"]
        alert = poster.messages("alerts")[0]
        assert alert.title.startswith("🚨 RED ALERT: mlx down")
        assert alert.mention_role and alert.severity == "critical"
        assert ("Impact: mlx down: smart-agent, chief-monitor and cleo-frontend are on their "
                "backups") in alert.lines
        assert "Since: 08:05 UTC (2 min ago)" in alert.lines

        alerts = await gate.open_alerts()
        assert [(a.name, a.severity) for a in alerts] == [("node:mlx", "critical")]
        failing = [c for c in await gate.health_checks() if not c.ok]
        assert [c.name for c in failing] == ["node/mlx"]
        assert not await gate.health_checks_pass()
        stored = await watch.history()
        assert [(i.subject, i.open) for i in stored] == [("node:mlx", True)]

        await sweeps(watch, clock, 9)  # 08:16, 9 min after the alert
        assert len(poster.posts) == 2, "no repeat inside the reminder interval"
        await sweeps(watch, clock, 1)  # 08:17
        assert poster.kinds("alerts") == ["red_alert", "reminder"]
        reminder = poster.messages("alerts")[1]
        assert reminder.title == f"⏰ STILL OPEN: {alert.title.removeprefix('🚨 RED ALERT: ')}"
        assert "Open for 12 min (since 08:05 UTC)" in reminder.lines

        await mlx.start()
        await node_is(watch, "mlx", up=True)
        await sweeps(watch, clock, 1)
        assert poster.kinds("alerts") == ["red_alert", "reminder"], "clear after 2 good sweeps"
        await sweeps(watch, clock, 1)
        assert poster.kinds("alerts") == ["red_alert", "reminder", "all_clear"]
        assert poster.kinds("chief") == ["red_alert", "reminder", "all_clear"]
        clear = poster.messages("alerts")[2]
        assert clear.title == "✅ ALL CLEAR: node:mlx"
        lasted = clock.now - outage_began
        assert lasted == 14 * MINUTE
        assert clear.lines[0] == "Recovered after 14 min (from 08:05 UTC to 08:19 UTC)."
        assert not clear.mention_role

        [closed] = await watch.history()
        assert closed.closed_at == clock.now and closed.reminders == 1
        assert closed.duration() == lasted
        assert await gate.open_alerts() == ()
        assert await gate.health_checks_pass()
        await sweeps(watch, clock, 20)
        assert len(poster.posts) == 6, "silent again once healthy"


async def test_silence_while_healthy_and_no_model_calls(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude,
                            watch={"checks": {"host": {"enabled": True, "cpu_warn_percent": None,
                                                       "memory_warn_percent": None,
                                                       "memory_critical_percent": None,
                                                       "disk_warn_percent": None,
                                                       "disk_critical_percent": None}},
                                   "anomaly": {"enabled": True}})
    clock, poster = Clock(), RecordingPoster()
    async with watching(settings, clock, poster) as watch:
        await sweeps(watch, clock, 40)
        assert poster.posts == []
        assert watch.open_incidents == []
    completions = [r for server in (mlx, ollama, claude) for r in server.requests
                   if r.path.endswith(("/chat/completions", "/api/chat", "/messages"))]
    assert completions == [], "routine sweeps never call a model"


async def test_a_restart_takes_over_the_open_incident_without_a_second_alert(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude)
    clock = Clock()
    first, second = RecordingPoster(), RecordingPoster()
    await mlx.stop()
    async with watching(settings, clock, first) as watch:
        await node_is(watch, "mlx", up=False)
        await sweeps(watch, clock, 3)
    assert first.kinds("alerts") == ["red_alert"]
    async with watching(settings, clock, second) as watch:
        assert [i.subject for i in watch.open_incidents] == ["node:mlx"]
        await node_is(watch, "mlx", up=False)
        await sweeps(watch, clock, 5)
        assert second.posts == []
        await mlx.start()
        await node_is(watch, "mlx", up=True)
        await sweeps(watch, clock, 2)
    assert second.kinds("alerts") == ["all_clear"]


async def test_auto_halt_on_a_critical_incident_only_when_configured(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    halted: list[Incident] = []

    async def halt(incident: Incident) -> None:
        halted.append(incident)

    configs = {enabled: settings_for(tmp_path / str(enabled), mlx, ollama, claude,
                                     watch={"incidents": {"auto_halt_on_critical": enabled}})
               for enabled in (False, True)}
    await mlx.stop()
    for settings in configs.values():
        clock, poster = Clock(), RecordingPoster()
        async with watching(settings, clock, poster, on_critical=halt) as watch:
            await node_is(watch, "mlx", up=False)
            await sweeps(watch, clock, 6)
        assert poster.kinds("alerts") == ["red_alert"]
    assert [i.subject for i in halted] == ["node:mlx"]


async def test_a_failing_poster_is_retried(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = settings_for(tmp_path, mlx, ollama, claude)
    clock, poster = Clock(), RecordingPoster()
    poster.failures_left = 1
    await mlx.stop()
    async with watching(settings, clock, poster) as watch:
        watch.outbox._backoff = 0.01  # keep the retry fast
        await node_is(watch, "mlx", up=False)
        await sweeps(watch, clock, 3)
    assert poster.kinds("alerts") == ["red_alert"]
    assert poster.kinds("chief") == ["red_alert"]
