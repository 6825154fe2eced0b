"""Chief's watch end to end through the real bot on the Discord stand-in.

Real chain, prober, team engine and bot; real PostgreSQL (store and ledger) and Redis
(cache); stand-in model nodes. Time never passes for real: sweeps and report runs are
driven with explicit simulated moments. Everything asserted is what a person sees in the
Discord channels (the stand-in's records), plus the ledger the numbers must match.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from homecrew.settings import Settings
from inference.report import spend_report
from tests.support.bot_harness import BotWorld, WorldOptions, homecrew_world
from tests.support.discord_standin import FollowUp, MessageEdit, VisibleMessage
from tests.support.standins import AnthropicStandin, Script
from tests.watch.helpers import Clock, at, deep_merge
from watch.chart import render_spend_chart
from watch.engine import Watch
from watch.report import CHART_FILENAME, collect_digest, money
from watch.scheduler import DAILY_JOB

pytestmark = pytest.mark.timeout(60)

MINUTE = 60.0
DAY = 86_400.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLOUD_ALIAS = "cloud-sonnet"
CALL_USD = 1000 * 3e-6 + 1000 * 15e-6  # one cloud answer: 1000 + 1000 tokens at $3 / $15

# Chief watches the nodes, the backup's Ollama API, Redis, PostgreSQL and the ledger; the
# thresholds a busy shared test machine could trip (latency, shared connections) are wide.
QUIET_WATCH: dict[str, Any] = {
    "checks": {
        "host": {"enabled": False},
        "redis": {"latency_warn_s": 5.0},
        "postgres": {"latency_warn_s": 5.0, "connections_warn_fraction": 2.0,
                     "connections_critical_fraction": 3.0},
    },
    "anomaly": {"enabled": False},
    "metrics": {"enabled": False},
    "incidents": {"open_after": 3, "clear_after": 2, "reminder_minutes": 10,
                  "critical_role": "admin"},
    "schedule": {"weekly_summary": None},
}


# -- helpers ----------------------------------------------------------------------------------
def options(*, watch: dict[str, Any] | None = None, **kwargs: Any) -> WorldOptions:
    extra = kwargs.pop("extra", {})
    return WorldOptions(watch=True, extra={"watch": deep_merge(QUIET_WATCH, watch or {}),
                                           **extra}, **kwargs)


def with_cloud(settings: Settings, url: str, routes: Sequence[str]) -> Settings:
    """``settings`` with a billed Anthropic step appended to each of ``routes`` (its price
    also values local tokens: the cloud-only counterfactual)."""
    data = settings.model_dump(exclude_unset=True)
    data["ledger"]["reference_model"] = CLOUD_ALIAS
    data["nodes"]["cloud"] = {"kind": "anthropic", "base_url": url, "api_key": "sk-test"}
    data["models"][CLOUD_ALIAS] = {
        "node": "cloud", "model": "claude-sonnet-4-5",
        "price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0},
    }
    for route in routes:
        data["routes"][route] = [*data["routes"][route], CLOUD_ALIAS]
    return Settings.model_validate(data)


@asynccontextmanager
async def cloud_world(world_options: WorldOptions, tmp: Path, routes: Sequence[str],
                      claude: AnthropicStandin) -> AsyncIterator[BotWorld]:
    """A world whose ``routes`` end with a cloud step on ``claude``."""
    async with homecrew_world(tmp, world_options, start=False) as world:
        world.settings = with_cloud(world.settings, claude.base_url, routes)
        await world.start()
        yield world


def watch_of(world: BotWorld) -> Watch:
    watch = world.ctx.watch
    assert watch is not None, "Chief's watch runs in the bot"
    return watch


async def sweeps(world: BotWorld, clock: Clock, count: int = 1) -> None:
    """``count`` health sweeps a simulated minute apart, then every post delivered."""
    watch = watch_of(world)
    for _ in range(count):
        await watch.sweep(clock.advance(MINUTE))
    await watch.drain()


async def node_is(world: BotWorld, node: str, *, up: bool) -> None:
    async with asyncio.timeout(10):
        await world.ctx.stack.board.wait_for(lambda board: board.get(node).up is up)


def chief_posts(world: BotWorld, channel: str) -> list[VisibleMessage]:
    """Chief's embeds in ``channel`` as a person sees them, oldest first."""
    return [m for m in world.discord.channel_view(channel)
            if m.author_name == "Chief" and m.embeds]


def titles(world: BotWorld, channel: str) -> list[str]:
    return [str(m.embeds[0]["title"]) for m in chief_posts(world, channel)]


def fields_of_embed(embed: dict[str, Any]) -> dict[str, str]:
    return {str(f["name"]): str(f["value"]) for f in embed.get("fields", [])}


def fields_of(message: VisibleMessage) -> dict[str, str]:
    return fields_of_embed(message.embeds[0])


def buttons(components: list[dict[str, Any]]) -> dict[str, str]:
    return {str(item["label"]): str(item["custom_id"])
            for row in components for item in row.get("components", [])}


# -- 1. the alert lifecycle ---------------------------------------------------------------------
async def test_node_outage_red_alert_reminder_all_clear_in_discord(
    tmp_path: Path, pg_database_url: str, redis_url: str,
) -> None:
    world_options = options(backup=True, database_url=pg_database_url, redis_url=redis_url)
    async with homecrew_world(tmp_path, world_options) as world:
        clock = Clock(at("2025-11-25 08:00"))
        report = await watch_of(world).sweep(clock.advance(MINUTE))
        checked = {r.key for r in report.results}
        assert {"node/skip-node", "ollama/backup", "redis", "postgres", "ledger"} <= checked
        await sweeps(world, clock, 2)  # 08:03
        assert chief_posts(world, "alerts") == chief_posts(world, "chief") == []

        await world.node("skip").stop()
        await node_is(world, "skip-node", up=False)
        await sweeps(world, clock, 2)  # 08:04, 08:05: failing, below k
        assert chief_posts(world, "alerts") == [], "flap suppression: nothing before k sweeps"
        await sweeps(world, clock, 1)  # 08:06: the k-th failing sweep
        for channel in ("alerts", "chief"):
            [alert] = chief_posts(world, channel)
            embed = alert.embeds[0]
            assert "RED ALERT" in embed["title"]
            assert embed["title"].startswith("🚨 RED ALERT: skip-node down")
            assert "Impact: skip-node down: smart-agent is on its backups" in embed["description"]
            assert "Since: 08:04 UTC (2 min ago)" in embed["description"]
            assert alert.content == world.discord.role("admin").mention
        assert [i.subject for i in watch_of(world).open_incidents] == ["node:skip-node"]

        await sweeps(world, clock, 9)  # 08:15
        assert len(chief_posts(world, "alerts")) == 1, "no repeat inside the reminder interval"
        await sweeps(world, clock, 1)  # 08:16: 10 min after the alert
        assert [t.split(":")[0] for t in titles(world, "alerts")] == ["🚨 RED ALERT",
                                                                     "⏰ STILL OPEN"]
        reminder = chief_posts(world, "alerts")[1].embeds[0]
        assert "Open for 12 min (since 08:04 UTC)" in reminder["description"]
        assert titles(world, "chief") == titles(world, "alerts")

        await world.node("skip").start()
        await node_is(world, "skip-node", up=True)
        await sweeps(world, clock, 1)  # 08:17: one healthy sweep is not yet a recovery
        assert len(chief_posts(world, "alerts")) == 2
        await sweeps(world, clock, 1)  # 08:18
        for channel in ("alerts", "chief"):
            posts = chief_posts(world, channel)
            assert len(posts) == 3
            clear = posts[2]
            assert clear.embeds[0]["title"] == "✅ ALL CLEAR: node:skip-node"
            assert clear.embeds[0]["description"].startswith(
                "Recovered after 14 min (from 08:04 UTC to 08:18 UTC).")
            assert fields_of(clear) == {"Duration": "14 min"}
            assert clear.content == "", "only the RED ALERT pings the role"

        await sweeps(world, clock, 20)
        assert len(chief_posts(world, "alerts")) == len(chief_posts(world, "chief")) == 3, \
            "silent again while healthy"
        [closed] = await watch_of(world).history()
        assert (closed.subject, closed.open, closed.reminders) == ("node:skip-node", False, 1)
        assert closed.duration() == 14 * MINUTE


# -- 2. the deployment veto ---------------------------------------------------------------------
async def deploy_task_in_review(world: BotWorld) -> int:
    engine = world.ctx.engine
    board, architect = engine.board, engine.actor("architect")
    task = await board.create(architect, kind="deploy", owner="chief", title="Upgrade Ollama")
    for state in ("implementation", "review"):
        assert (await board.request(architect, task.id, state)).allowed
    await board.attach(architect, task.id, "docs", "# Runbook")
    await board.sign(engine.actor("gonzo"), task.id, signer="gonzo", topic="security")
    await board.sign(engine.actor("cleo"), task.id, signer="cleo", topic="responsiveness")
    return task.id


async def show_task(world: BotWorld, task_id: int) -> FollowUp:
    shown = await world.discord.slash_command("task", {"task_id": task_id}, "bob", "chief",
                                              subcommand="show")
    return await world.discord.wait_for_event(FollowUp, lambda f: f.interaction_id == shown.id)


async def test_deploy_vetoed_by_chief_while_the_incident_is_open_and_allowed_after(
    tmp_path: Path, pg_database_url: str,
) -> None:
    async with homecrew_world(tmp_path, options(backup=True,
                                                database_url=pg_database_url)) as world:
        discord, board = world.discord, world.ctx.engine.board
        clock = Clock(at("2025-11-25 08:00"))
        await sweeps(world, clock, 2)
        task_id = await deploy_task_in_review(world)

        await world.node("skip").stop()
        await node_is(world, "skip-node", up=False)
        await sweeps(world, clock, 3)
        assert [t.split(":")[0] for t in titles(world, "alerts")] == ["🚨 RED ALERT"]

        card = await show_task(world, task_id)
        gate = fields_of_embed(card.embeds[0])["Gate → shipped"]
        assert "chief: deployment approval — no approval yet; alert open: node:skip-node" in gate
        approve = buttons(discord.message(card.message_id).components)["Approve (Chief · deploy)"]
        click = await discord.click_button(card.message_id, approve, "bob")
        denial = await discord.wait_for_event(
            FollowUp, lambda f: f.interaction_id == click.id and f.ephemeral)
        assert denial.content.startswith(
            "Not recorded: alert open: node:skip-node (skip-node down:")
        vetoed = await board.ship(world.ctx.engine.actor("architect"), task_id)
        assert not vetoed.allowed
        assert any("alert open: node:skip-node" in r for r in vetoed.reasons)
        assert (await board.file(task_id)).task.state == "review"

        await world.node("skip").start()
        await node_is(world, "skip-node", up=True)
        await sweeps(world, clock, 2)
        assert [t.split(":")[0] for t in titles(world, "alerts")] == ["🚨 RED ALERT",
                                                                     "✅ ALL CLEAR"]

        card = await show_task(world, task_id)
        approve = buttons(discord.message(card.message_id).components)["Approve (Chief · deploy)"]
        await discord.click_button(card.message_id, approve, "bob")
        edit = await discord.wait_for_event(
            MessageEdit, lambda e: e.message_id == card.message_id and "approved" in e.content)
        assert edit.content == f"Bob approved deploy for chief on task #{task_id}."
        assert fields_of_embed(edit.embeds[0])["Gate → shipped"] == "✅ every requirement is met"
        shipped = await board.ship(world.ctx.engine.actor("architect"), task_id)
        assert shipped.allowed, shipped.reasons
        assert (await board.file(task_id)).task.state == "shipped"


# -- 3. the daily report across a restart ---------------------------------------------------
def early_morning_zone(now: float) -> ZoneInfo:
    """A fixed-offset zone where it is 06:xx now: today's 09:00 report slot is hours ahead,
    so the day it covers (yesterday 09:00 → today 09:00) holds everything this test does."""
    offset = 6 - datetime.fromtimestamp(now, UTC).hour
    offset = offset + 24 if offset < -12 else offset
    return ZoneInfo("UTC" if offset == 0 else f"Etc/GMT{-offset:+d}")


def todays_slot(zone: ZoneInfo, now: float) -> float:
    local = datetime.fromtimestamp(now, zone)
    return local.replace(hour=9, minute=0, second=0, microsecond=0).timestamp()


async def test_daily_report_posts_once_across_a_restart_with_ledger_numbers(
    tmp_path: Path, pg_database_url: str, redis_url: str,
) -> None:
    real_now = datetime.now(UTC).timestamp()
    zone = early_morning_zone(real_now)
    slot = todays_slot(zone, real_now)
    assert slot - DAY < real_now < slot - MINUTE * 60
    world_options = options(backup=True, database_url=pg_database_url, redis_url=redis_url,
                            watch={"timezone": zone.key})
    async with (
        AnthropicStandin(script=Script(reply="Jax via the cloud.", prompt_tokens=1000,
                                       completion_tokens=1000)) as claude,
        cloud_world(world_options, tmp_path, ["jax-creative"], claude) as world,
    ):
        assert world.backup is not None
        # A day of traffic: two local answers, one fallback to the backup, one to the cloud.
        assert (await world.converse("nellie", "what is MLX?"))[-1].content.startswith(
            "Nellie here")
        world.node("gonzo").script = Script.http_error(503)
        assert (await world.converse("gonzo", "status?"))[-1].content.startswith("Backup node")
        world.node("jax").script = Script.http_error(503)
        world.backup.script = Script.http_error(503)
        assert (await world.converse("jax", "a script"))[-1].content.startswith("Jax via")
        world.backup.script = Script(reply="Backup node here.")
        assert (await world.converse("cleo", "a button"))[-1].content.startswith("Cleo here")
        await world.ctx.stack.ledger.flush()

        watch = watch_of(world)
        job = watch.scheduler.scheduler.get_job(DAILY_JOB)  # what APScheduler fires at 09:00
        assert job is not None and job.func == watch.reports.run and job.args == (DAILY_JOB,)
        assert (job.coalesce, job.misfire_grace_time) == (True, 30 * 60)
        assert watch.reports.slot(DAILY_JOB, slot + 5 * MINUTE) == slot
        assert chief_posts(world, "chief") == []
        assert await watch.reports.run(DAILY_JOB, now=slot + 5 * MINUTE) == "posted"
        [daily] = chief_posts(world, "chief")
        assert daily.embeds[0]["title"] == "📊 Daily spend report"
        assert daily.attachments == [CHART_FILENAME]
        assert daily.embeds[0]["image"]["url"] == f"attachment://{CHART_FILENAME}"

        db = await world.ctx.stack.database()
        by_agent = await spend_report(db, since=slot - DAY, until=slot, by="agent")
        by_node = await spend_report(db, since=slot - DAY, until=slot, by="node")
        total = by_agent.total
        assert (total.answered, total.fallbacks) == (4, 2)
        assert total.cost_usd == pytest.approx(CALL_USD)
        cloud = sum(r.cost_usd for r in by_node.rows if r.key == "cloud")
        shown = fields_of(daily)
        assert shown == {
            "Requests": f"{total.answered} answered / {total.attempts} attempts",
            "Local share": f"{total.local_share:.1%} (target 95%) ⚠️",
            "Cloud spend": money(cloud),
            "Total cost": money(total.cost_usd),
            "Cloud-only would cost": money(total.cloud_only_usd),
            "Savings": money(total.savings_usd),
            "Cache hit rate": f"{total.cache_hit_rate:.1%}",
            "Fallbacks": str(total.fallbacks),
            "Failures": str(total.failures),
        }
        assert shown["Local share"].startswith("75.0%")
        assert shown["Cloud spend"] == "$0.0180"
        assert total.savings_usd > 0, "local answers are valued at the cloud's price"
        for row in by_agent.rows:
            assert f"{row.key} {row.answered} req {money(row.cost_usd)}" in (
                daily.embeds[0]["description"])

        png = attachment_bytes(world, daily)
        assert png.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(png)) as image:
            assert (image.format, image.size) == ("PNG", (1000, 900))
            image.verify()
        digest = await collect_digest(db, title="Daily spend report", since=slot - DAY,
                                      until=slot, cloud_nodes={"cloud"})
        assert png == render_spend_chart(digest, target=0.95), "the chart is the ledger's"

        reports_before = len(chief_posts(world, "chief"))
        await world.restart()
        watch = watch_of(world)
        assert await watch.reports.catch_up(now=slot + 30 * MINUTE) == {}
        assert await watch.reports.run(DAILY_JOB, now=slot + 31 * MINUTE) == "already_ran"
        await watch.drain()
        assert len(chief_posts(world, "chief")) == reports_before, "not posted again"

        next_day = slot + DAY + 2 * MINUTE
        assert await watch.reports.catch_up(now=next_day) == {DAILY_JOB: "posted"}
        assert await watch.reports.run(DAILY_JOB, now=next_day + MINUTE) == "already_ran"
        posts = chief_posts(world, "chief")
        assert len(posts) == reports_before + 1
        assert posts[-1].embeds[0]["title"] == "📊 Daily spend report"
        assert fields_of(posts[-1])["Requests"] == "0 answered / 0 attempts"


def attachment_bytes(world: BotWorld, message: VisibleMessage) -> bytes:
    [stored] = world.discord.message(message.id).attachments
    return stored.data


# -- 4. a budget crossed mid-conversation --------------------------------------------------
async def test_budget_crossed_mid_conversation_local_answers_and_one_warning_each(
    tmp_path: Path, pg_database_url: str, redis_url: str,
) -> None:
    limit = CALL_USD * 5 - 1e-9
    world_options = options(database_url=pg_database_url, redis_url=redis_url,
                            extra={"budgets": {"agents": {"gonzo": {"monthly_usd": limit}}}})
    async with (
        AnthropicStandin(script=Script(reply="Claude for Gonzo.", prompt_tokens=1000,
                                       completion_tokens=1000)) as claude,
        cloud_world(world_options, tmp_path, ["gonzo-backend"], claude) as world,
    ):
        watch = watch_of(world)
        await world.node("gonzo").stop()
        await node_is(world, "gonzo-node", up=False)
        for i in range(5):
            replies = await world.converse("gonzo", f"question {i}")
            assert replies[-1].content.startswith("Claude for Gonzo.")
            await watch.drain()
            if i == 2:
                assert titles(world, "alerts") == [], "nothing below 80 %"
            if i == 3:
                await wait_for_titles(world, 1)
                assert titles(world, "alerts") == [
                    "💸 BUDGET WARNING: gonzo's monthly cloud budget at 80%"]
        await wait_for_titles(world, 2)

        refused = await world.converse("gonzo", "one more?")
        assert "gonzo's monthly cloud budget reached" in refused[-1].content
        assert len(claude.requests_to("/v1/messages")) == 5, "no cloud call past the limit"

        await world.node("gonzo").start()
        await node_is(world, "gonzo-node", up=True)
        for i in range(2):
            local = await world.converse("gonzo", f"after {i}")
            assert local[-1].content.startswith("Gonzo here: all good.")
        assert world.calls("gonzo") == 2
        await watch.drain()

    for channel in ("alerts", "chief"):
        assert titles(world, channel) == [
            "💸 BUDGET WARNING: gonzo's monthly cloud budget at 80%",
            "💸 BUDGET REACHED: gonzo's monthly cloud budget",
        ]
    warn, reached = chief_posts(world, "alerts")
    assert fields_of(warn)["Threshold"] == "80%"
    assert fields_of(reached)["Spent"] == f"${CALL_USD * 5:.2f}"
    assert reached.embeds[0]["description"].endswith(
        "Cloud steps are skipped until the period ends: local models only.")


async def wait_for_titles(world: BotWorld, count: int) -> None:
    await world.discord.wait_until(lambda: len(titles(world, "alerts")) >= count, timeout=5)

