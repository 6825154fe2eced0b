"""``report spend``, ``alerts`` and ``watch check``: Chief's watch from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homecrew.commands.options import add_since
from homecrew.settings import Settings, load_settings
from inference.configfile import load_environment, resolve_config_path
from inference.ledger import LEDGER_MIGRATIONS
from inference.runtime import InferenceStack
from store import Database, apply_migrations, open_database
from watch.checks import build_checks
from watch.incidents import Incident
from watch.messages import ChiefMessage, format_duration, format_time
from watch.poster import PostError
from watch.reporter import SpendReporter
from watch.results import CheckResult, Status, run_checks
from watch.store import WatchStore

if TYPE_CHECKING:
    from bot.chief_poster import RestChiefPoster

__all__ = ["register"]


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", parents=parents, help="run one of Chief's reports now")
    kinds = report.add_subparsers(dest="report", metavar="REPORT", required=True)
    spend = kinds.add_parser("spend", parents=parents, help="the spend report with its chart")
    how = spend.add_mutually_exclusive_group(required=True)
    how.add_argument("--post", action="store_true", help="post it to Discord (#chief)")
    how.add_argument("--print", action="store_true", help="print it here")
    add_since(spend, "24h")
    spend.add_argument("--chart", type=Path, metavar="PNG", help="also write the chart here")
    spend.add_argument("--guild", type=int, help="guild id (default: discord.guild_ids, "
                       "then $DISCORD_GUILD_ID)")
    spend.add_argument("--channel", action="append", help="post here instead (repeatable)")
    spend.set_defaults(handler=_report_spend)

    alerts = sub.add_parser("alerts", parents=parents, help="Chief's incident history")
    alerts.add_argument("--open", action="store_true", help="only incidents still open")
    alerts.add_argument("--limit", type=int, default=20)
    alerts.add_argument("--json", action="store_true")
    alerts.set_defaults(handler=_alerts)

    watch = sub.add_parser("watch", parents=parents, help="Chief's health checks")
    actions = watch.add_subparsers(dest="watch_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", parents=parents, help="run every check once")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_watch_check)


# -- report spend ----------------------------------------------------------------------------
def _report_spend(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    poster = _rest_poster(args, settings) if args.post else None
    if args.post and poster is None:
        return 2
    message = asyncio.run(_spend_message(settings, args.since.seconds, args.since.text))
    if args.chart is not None and message.attachments:
        args.chart.write_bytes(message.attachments[0].data)
    if poster is None:
        print(message.text())
        return 0
    channels = args.channel or list(settings.watch.channels.reports)
    try:
        asyncio.run(_post(poster, channels, message))
    except PostError as exc:
        print(f"homecrew: {exc}", file=sys.stderr)
        return 1
    print(f"posted the spend report to {', '.join('#' + c for c in channels)}", file=sys.stderr)
    return 0


def _rest_poster(args: argparse.Namespace, settings: Settings) -> RestChiefPoster | None:
    """A discord.py REST poster from the ``discord:`` section (token and guild: also from
    ``.env``); it logs in only while posting, without a gateway connection."""
    from bot.chief_poster import RestChiefPoster

    env = load_environment(resolve_config_path(args.config, os.environ), os.environ)
    config = settings.discord.with_environment(env)
    if config.token is None:
        print("homecrew: DISCORD_TOKEN is not set (environment or .env)", file=sys.stderr)
        return None
    guild = args.guild or next(iter(config.guild_ids), None)
    if not guild:
        print("homecrew: no guild: pass --guild or set DISCORD_GUILD_ID (or "
              "discord.guild_ids)", file=sys.stderr)
        return None
    return RestChiefPoster(config.token.get_secret_value(), int(guild),
                           api_base=config.api_base,
                           role_name=settings.watch.incidents.critical_role)


async def _spend_message(settings: Settings, window: float, label: str) -> ChiefMessage:
    db = await _ledger_db(settings)
    try:
        reporter = SpendReporter(settings, settings.watch, lambda: _ready(db))
        now = time.time()
        return await reporter.message(title=f"Spend report, last {label}", since=now - window,
                                      until=now)
    finally:
        await db.close()


async def _post(poster: RestChiefPoster, channels: Sequence[str],
                message: ChiefMessage) -> None:
    async with poster:
        for channel in channels:
            await poster.post(channel, message)


async def _ledger_db(settings: Settings) -> Database:
    db = await open_database(settings.ledger.database_url, settings.data_dir)
    await apply_migrations(db, "ledger", LEDGER_MIGRATIONS)
    return db


async def _ready(db: Database) -> Database:
    return db


# -- alerts ----------------------------------------------------------------------------------
def _alerts(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    incidents = asyncio.run(_incidents(settings, only_open=args.open, limit=args.limit))
    if args.json:
        print(json.dumps([i.to_json() for i in incidents], indent=2))
        return 0
    if not incidents:
        print("no incidents" + (" open" if args.open else " recorded"))
        return 0
    zone = settings.watch.zone
    now = time.time()
    for incident in incidents:
        print(_incident_line(incident, zone, now))
    return 0


async def _incidents(settings: Settings, *, only_open: bool, limit: int) -> list[Incident]:
    db = await open_database(settings.ledger.database_url, settings.data_dir)
    try:
        store = await WatchStore.open(db)
        if only_open:
            return (await store.open_incidents())[:limit]
        return await store.history(limit=limit)
    finally:
        await db.close()


def _incident_line(incident: Incident, zone: Any, now: float) -> str:
    state = "OPEN  " if incident.open else "closed"
    since = format_time(incident.first_failed_at, zone, with_date=True)
    lasted = format_duration(incident.duration(now))
    return (f"{state} {incident.severity.label:<8} {incident.subject:<24} {since} "
            f"({lasted}) {incident.title}")


# -- watch check -----------------------------------------------------------------------------
def _watch_check(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    results = asyncio.run(_check_once(settings))
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        for result in results:
            print(_result_line(result))
    return 1 if any(r.status is Status.CRITICAL for r in results) else 0


async def _check_once(settings: Settings) -> list[CheckResult]:
    import httpx

    async with InferenceStack.open(settings, probes=False) as stack, httpx.AsyncClient() as client:
        await stack.prober.probe_all()
        checks = build_checks(settings, settings.watch, client, board=stack.board,
                              ledger=stack.ledger)
        try:
            return await run_checks(checks.checks, settings.watch.checks.default_timeout_s)
        finally:
            await checks.aclose()


def _result_line(result: CheckResult) -> str:
    mark = {Status.OK: "ok", Status.WARN: "WARN", Status.CRITICAL: "CRIT"}[result.status]
    latency = "" if result.latency_s is None else f" [{result.latency_s * 1000:.0f} ms]"
    return f"{mark:<5} {result.key:<28} {result.message}{latency}"
