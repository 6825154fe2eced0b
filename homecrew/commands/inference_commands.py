"""``ask``, ``status``, ``routes``, ``spend`` and ``import-litellm``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import yaml

from homecrew.commands import render
from homecrew.commands.options import add_since
from homecrew.settings import Settings, load_settings
from inference.errors import ConfigError
from inference.importer import convert_litellm_config
from inference.ledger import LEDGER_MIGRATIONS
from inference.report import GROUPINGS, spend_report
from inference.runtime import InferenceStack
from inference.store import apply_migrations, open_database
from inference.types import ChatRequest, Message, ReplyDone, TextDelta

__all__ = ["register"]


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    ask = sub.add_parser("ask", parents=parents,
                         help="ask a route or an agent; streams the answer")
    ask.add_argument("prompt", help="the question ('-' reads standard input)")
    target = ask.add_mutually_exclusive_group()
    target.add_argument("--route", help="route to use (see `homecrew routes`)")
    target.add_argument("--agent", metavar="NAME",
                        help="ask an agent (see `homecrew team`): its persona, route and a "
                             "persisted conversation")
    ask.add_argument("--conversation", metavar="ID",
                     help="with --agent: the conversation to continue (default: "
                          "cli:<operator>:<agent>)")
    ask.add_argument("--system", help="a system prompt")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead")
    ask.add_argument("--no-cache", action="store_true", help="bypass the response cache")
    ask.add_argument("--temperature", type=float)
    ask.add_argument("--max-tokens", type=int)
    ask.set_defaults(handler=_ask)

    status = sub.add_parser("status", parents=parents, help="node health and route steps")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    routes = sub.add_parser("routes", parents=parents, help="print the route table")
    routes.add_argument("--json", action="store_true")
    routes.set_defaults(handler=_routes)

    spend = sub.add_parser("spend", parents=parents, help="spend report from the ledger")
    add_since(spend, "7d")
    spend.add_argument("--by", choices=GROUPINGS, default="agent")
    spend.add_argument("--json", action="store_true")
    spend.set_defaults(handler=_spend)

    imp = sub.add_parser("import-litellm", parents=parents,
                         help="convert a LiteLLM proxy config.yaml to homecrew.yaml")
    imp.add_argument("path", type=Path)
    imp.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    imp.set_defaults(handler=_import_litellm)


# -- ask ------------------------------------------------------------------------------------
def _ask(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.agent:
        return _ask_agent(args, settings)
    if args.route not in settings.routes:
        print(f"homecrew: choose a route with --route: {', '.join(settings.routes)}",
              file=sys.stderr)
        return 2
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        print("homecrew: the prompt is empty", file=sys.stderr)
        return 2
    messages = [Message("user", prompt)]
    if args.system:
        messages.insert(0, Message("system", args.system))
    request = ChatRequest(
        route=args.route, messages=messages, temperature=args.temperature,
        max_tokens=args.max_tokens, use_cache=not args.no_cache, stream=not args.json,
    )
    done = asyncio.run(_run_ask(settings, request, as_json=args.json))
    return 1 if done.interrupted else 0


def _ask_agent(args: argparse.Namespace, settings: Settings) -> int:
    from homecrew.commands.team_commands import ask_agent

    if args.system or args.temperature is not None or args.max_tokens is not None:
        print("homecrew: --system, --temperature and --max-tokens do not apply with --agent "
              "(the persona sets them)", file=sys.stderr)
        return 2
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        print("homecrew: the prompt is empty", file=sys.stderr)
        return 2
    return ask_agent(args, settings, prompt)


async def _run_ask(settings: Settings, request: ChatRequest, *, as_json: bool) -> ReplyDone:
    async with InferenceStack.open(settings) as stack:
        if as_json:
            done = await stack.complete(request)
            print(json.dumps(render.ask_json(done)))
        else:
            done = await _stream_to_terminal(stack, request)
        await _flush_ledger(stack)
    return done


async def _stream_to_terminal(stack: InferenceStack, request: ChatRequest) -> ReplyDone:
    final: ReplyDone | None = None
    async with aclosing(stack.stream(request)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            else:
                final = event
    assert final is not None
    sys.stdout.write("\n")
    print(render.footer(final), file=sys.stderr)
    return final


async def _flush_ledger(stack: InferenceStack, budget: float = 3.0) -> None:
    try:
        async with asyncio.timeout(budget):
            await stack.ledger.flush()
    except TimeoutError:
        print("homecrew: ledger database unreachable; records kept for later",
              file=sys.stderr)


# -- status / routes -----------------------------------------------------------------------
def _status(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    report = asyncio.run(_collect_status(settings))
    print(json.dumps(report, indent=2) if args.json else render.status_text(report))
    return 0 if any(n["up"] for n in report["nodes"].values()) else 1


async def _collect_status(settings: Settings) -> dict[str, Any]:
    from inference.ollama_admin import not_pulled  # the ollama client: ~50 ms to import

    async with InferenceStack.open(settings, probes=False) as stack:
        started = time.perf_counter()
        _, missing = await asyncio.gather(
            stack.prober.probe_all(),
            not_pulled(settings, timeout_s=settings.health.probe_timeout))
        return render.status_dict(stack, probe_s=time.perf_counter() - started,
                                  not_pulled=missing)


def _routes(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    table = render.route_table(settings)
    print(json.dumps(table, indent=2) if args.json else render.route_table_text(table))
    return 0


# -- spend ----------------------------------------------------------------------------------
def _spend(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    report = asyncio.run(_spend_report(settings, args.since.seconds, args.by))
    print(json.dumps(report.to_json(), indent=2) if args.json else render.spend_text(report))
    return 0


async def _spend_report(settings: Settings, window: float, by: Any) -> Any:
    db = await open_database(settings.ledger.database_url, settings.data_dir)
    try:
        await apply_migrations(db, "ledger", LEDGER_MIGRATIONS)
        return await spend_report(db, since=time.time() - window, by=by)
    finally:
        await db.close()


# -- import-litellm ---------------------------------------------------------------------------
def _import_litellm(args: argparse.Namespace) -> int:
    path: Path = args.path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=str(path)) from None
    result = convert_litellm_config(data, source=str(path))
    text = "# converted from a LiteLLM proxy config by `homecrew import-litellm`\n"
    text += yaml.safe_dump(result.config, sort_keys=False, allow_unicode=True)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
