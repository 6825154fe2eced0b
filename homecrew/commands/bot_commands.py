"""``homecrew bot`` (run the Discord bot) and ``homecrew doctor`` (check the set-up)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homecrew.settings import Settings, load_settings
from inference.configfile import load_environment, resolve_config_path
from inference.errors import ConfigError

if TYPE_CHECKING:
    from bot.doctor import DoctorReport

# discord.py and the bot are imported inside the handlers: other commands stay fast.

__all__ = ["register", "run_doctor"]


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    bot = sub.add_parser("bot", parents=parents, help="run the Discord bot")
    bot.set_defaults(handler=_bot)

    doctor = sub.add_parser("doctor", parents=parents,
                            help="check config, secrets, nodes, stores and Discord; say what "
                                 "to fix")
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.add_argument("--discord-api", metavar="URL",
                        help="Discord REST base (default: discord.api_base, else Discord)")
    doctor.add_argument("--skip-discord", action="store_true", help="only the local checks")
    doctor.set_defaults(handler=_doctor)


def _environment(config: Path | None) -> dict[str, str]:
    return load_environment(resolve_config_path(config, os.environ), os.environ)


def _bot(args: argparse.Namespace) -> int:
    from bot.runner import serve

    settings = load_settings(args.config)
    return asyncio.run(serve(settings, _environment(args.config)))


def _doctor(args: argparse.Namespace) -> int:
    from bot.doctor import DoctorReport, Finding

    report = DoctorReport()
    try:
        settings = load_settings(args.config)
        env = _environment(args.config)
    except ConfigError as exc:
        report.add(Finding("config", False, str(exc), "fix the file and run doctor again"))
        _print(report, as_json=args.json)
        return 1
    report = asyncio.run(run_doctor(settings, env, api_base=args.discord_api,
                                    discord=not args.skip_discord))
    _print(report, as_json=args.json)
    return 0 if report.ok else 1


async def run_doctor(settings: Settings, env: dict[str, str], *, api_base: str | None = None,
                     discord: bool = True) -> DoctorReport:
    from bot.command_sync import RECORD_NAME
    from bot.doctor import (
        DoctorReport,
        Finding,
        check_ledger_outbox,
        check_mcp_servers,
        check_nodes,
        check_secrets,
        check_stores,
        check_tool_grants,
    )
    from bot.doctor_discord import check_discord
    from bot.runner import discord_settings
    from personas.loader import load_policy, load_roster
    from team.tools import BUILTIN_SERVER

    report = DoctorReport()
    config = discord_settings(settings, env)
    report.add(Finding("config", True, "valid"))
    try:
        roster = load_roster(settings.team.personas_dir)
        load_policy(settings.team.rules_file, roster)
    except ConfigError as exc:
        report.add(Finding("personas", False, str(exc), "fix the persona or rules file"))
        return report
    unrouted = [f"{p.name} → {p.route}" for p in roster if p.route not in settings.routes]
    report.add(Finding("personas", not unrouted,
                       f"{len(roster)} agents" if not unrouted
                       else f"routes not defined: {', '.join(unrouted)}",
                       "add the routes under routes: or fix the personas' route"))
    report.add(*check_secrets(settings, config))
    report.add(*await check_nodes(settings))
    report.add(*await check_stores(settings))
    report.add(await check_ledger_outbox(settings))
    report.add(*await check_mcp_servers(settings.mcp_servers))
    report.add(*check_tool_grants(roster, {BUILTIN_SERVER, *settings.mcp_servers}))
    if discord:
        report.add(*await check_discord(config, roster, api_base=api_base,
                                        sync_record=settings.data_dir / RECORD_NAME))
    return report


def _print(report: DoctorReport, *, as_json: bool) -> None:
    print(json.dumps(report.to_json(), indent=2) if as_json else report.text())
