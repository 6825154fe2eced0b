"""``keys create|list|revoke``: the gateway's API keys (``homecrew serve``).

A key's secret is printed once, on the last line of ``keys create``; only its hash is
stored. Keys live in the ledger's database, so every replica sees a change within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.errors import KeyStoreError, UnknownKeyName
from gateway.key_budget import ledger_spend, month_of
from gateway.keys import ApiKey, KeyStore
from homecrew.commands.options import text
from homecrew.render import text_table
from homecrew.settings import Settings, load_settings
from inference.errors import StoreError
from store import Database, open_database

__all__ = ["register"]


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="API keys of the gateway (`homecrew serve`)")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", parents=parents,
                                help="create a key; prints it once, on the last line")
    create.add_argument("--name", required=True, type=text,
                        help="the key's name, as the ledger records it (e.g. editor-alice)")
    create.add_argument("--routes", type=_routes, metavar="R1,R2",
                        help="only these routes (and their models and agents); default: all")
    create.add_argument("--monthly-usd", type=_usd, metavar="USD",
                        help="cloud budget a month; past it only local models answer")
    create.add_argument("--rpm", type=_rpm, metavar="N", help="requests a minute at most")
    create.set_defaults(handler=_create)
    lst = actions.add_parser("list", parents=parents, help="the keys (never their secrets)")
    lst.add_argument("--json", action="store_true", help="a JSON array of the keys")
    lst.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", parents=parents,
                                help="revoke a key (every replica refuses it within a second)")
    revoke.add_argument("name", type=text)
    revoke.set_defaults(handler=_revoke)


def _routes(value: str) -> list[str]:
    routes = [r.strip() for r in value.split(",") if r.strip()]
    if not routes:
        raise argparse.ArgumentTypeError("name at least one route")
    return routes


def _usd(value: str) -> float:
    try:
        usd = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of dollars") from None
    if not (math.isfinite(usd) and usd >= 0):
        raise argparse.ArgumentTypeError(f"{value!r} must be >= 0")
    return usd


def _rpm(value: str) -> int:
    try:
        rpm = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if rpm < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return rpm


def _run(args: argparse.Namespace,
         body: Callable[[Settings, KeyStore, argparse.Namespace], Awaitable[int]]) -> int:
    settings = load_settings(args.config)

    async def run() -> int:
        db = await open_database(settings.ledger.database_url, settings.data_dir)
        try:
            return await body(settings, await KeyStore.open(db), args)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except UnknownKeyName as exc:
        print(f"homecrew: {exc}", file=sys.stderr)
        return 1
    except KeyStoreError as exc:
        print(f"homecrew: {exc}", file=sys.stderr)
        return 2


# -- create ---------------------------------------------------------------------------------
def _create(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: KeyStore, args: argparse.Namespace) -> int:
        new = await store.create(args.name, known_routes=settings.routes, routes=args.routes,
                                 monthly_usd=args.monthly_usd, rpm=args.rpm)
        print(f"created key {new.key.name!r}: {_limits(new.key)}")
        print("this is the only time the key is shown; store it now:")
        print(new.secret)
        return 0
    return _run(args, body)


def _limits(key: ApiKey) -> str:
    routes = "every route" if key.routes is None else "routes " + ", ".join(sorted(key.routes))
    budget = "no cloud budget" if key.monthly_usd is None else f"${key.monthly_usd:.2f}/month"
    rate = "no rate limit" if key.rpm is None else f"{key.rpm} requests/minute"
    return f"{routes}; {budget}; {rate}"


# -- list -----------------------------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: KeyStore, args: argparse.Namespace) -> int:
        keys = await store.keys()
        spend = await _month_spend(settings, store.database)
        if args.json:
            print(json.dumps([{**key.to_json(), "spent_usd_this_month":
                               None if spend is None else spend.get(key.name, 0.0)}
                              for key in keys], indent=2))
        elif not keys:
            print("no keys: `homecrew serve` admits loopback clients as 'local'; "
                  "create one with `homecrew keys create --name NAME`")
        else:
            print(_key_table(keys, spend))
        return 0
    return _run(args, body)


async def _month_spend(settings: Settings, db: Database) -> dict[str, float] | None:
    """This month's cloud spend per key from the ledger (None when it cannot be read)."""
    zone = ZoneInfo(settings.budgets.timezone)
    try:
        return await ledger_spend(db, month_of(time.time(), zone), zone)
    except StoreError:
        return None  # no ledger table yet (no traffic), or not readable: spend unknown


def _key_table(keys: list[ApiKey], spend: dict[str, float] | None) -> str:
    rows = [[
        key.name,
        "all" if key.routes is None else ",".join(sorted(key.routes)),
        "-" if key.monthly_usd is None else f"{key.monthly_usd:.2f}",
        "-" if key.rpm is None else str(key.rpm),
        _when(key.created_at),
        "-" if key.revoked_at is None else _when(key.revoked_at),
        "?" if spend is None else f"{spend.get(key.name, 0.0):.4f}",
    ] for key in keys]
    return text_table(["NAME", "ROUTES", "MONTHLY_USD", "RPM", "CREATED", "REVOKED",
                  "SPENT_THIS_MONTH"], rows)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- revoke ---------------------------------------------------------------------------------
def _revoke(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: KeyStore, args: argparse.Namespace) -> int:
        already = any(k.name == args.name and k.revoked for k in await store.keys())
        key = await store.revoke(args.name)
        assert key.revoked_at is not None
        state = "was already revoked" if already else "revoked"
        print(f"key {key.name!r} {state} ({_when(key.revoked_at)}); "
              f"requests with it get a 401 (every replica within a second)")
        return 0
    return _run(args, body)

