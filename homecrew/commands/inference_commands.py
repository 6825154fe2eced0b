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

from homecrew import render
from homecrew.commands.options import add_since, read_prompt, settle_ledger, text
from homecrew.settings import Settings, load_settings
from inference.errors import ConfigError
from inference.importer import convert_litellm_config
from inference.ledger import Ledger
from inference.report import GROUPINGS, spend_report
from inference.runtime import InferenceStack, route_nodes
from inference.types import ChatRequest, Message, ReplyDone, TextDelta

__all__ = ["register", "warn_about_outbox"]

_SPEND_SETTLE_S = 5.0  # the report should count what waits; not when the store is down


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    ask = sub.add_parser("ask", parents=parents,
                         help="ask a route or an agent; streams the answer")
    ask.add_argument("prompt", type=text, help="the question ('-' reads standard input)")
    target = ask.add_mutually_exclusive_group()
    target.add_argument("--route", help="route to use (see `homecrew routes`)")
    target.add_argument("--agent", metavar="NAME",
                        help="ask an agent (see `homecrew team`): its persona, route and a "
                             "persisted conversation")
    ask.add_argument("--conversation", metavar="ID",
                     help="with --agent: the conversation to continue (default: "
                          "cli:<operator>:<agent>)")
    ask.add_argument("--system", type=text, help="a system prompt")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead")
    ask.add_argument("--no-cache", action="store_true", help="bypass the response cache")
    ask.add_argument("--approve", action="store_true",
                     help="with --agent: run the agent's side-effect tools without asking "
                          "(default: a y/N prompt on a terminal, deny otherwise)")
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
    prompt = read_prompt(args.prompt)
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
    prompt = read_prompt(args.prompt)
    if not prompt.strip():
        print("homecrew: the prompt is empty", file=sys.stderr)
        return 2
    return ask_agent(args, settings, prompt)


async def _run_ask(settings: Settings, request: ChatRequest, *, as_json: bool) -> ReplyDone:
    # Probe only this route's nodes, alongside the request (a hung node elsewhere costs nothing).
    async with InferenceStack.open(settings, probe_nodes=route_nodes(settings, request.route)) \
            as stack:
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
            elif isinstance(event, ReplyDone):
                final = event
    assert final is not None
    sys.stdout.write("\n")
    print(render.footer(final), file=sys.stderr)
    return final


async def _flush_ledger(stack: InferenceStack) -> None:
    await settle_ledger(stack.ledger)


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
        probe_s = time.perf_counter() - started
        await stack.ledger.settle()  # counts the outbox (and sends what it can, briefly)
        return render.status_dict(stack, probe_s=probe_s, not_pulled=missing)


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
    async with Ledger.for_settings(settings) as ledger:  # first, what waits in the outbox
        await ledger.settle(_SPEND_SETTLE_S)
        report = await spend_report(await ledger.connect(), since=time.time() - window, by=by)
        warn_about_outbox(ledger)
    return report


def warn_about_outbox(ledger: Ledger) -> None:
    """A warning line for records still waiting in, or quarantined by, the local outbox."""
    if ledger.backlog:
        print(f"homecrew: warning: {ledger.backlog} ledger record(s) still wait in "
              f"{ledger.outbox_path} ({ledger.last_error or 'not sent yet'}); "
              "not counted here", file=sys.stderr)
    quarantine = ledger.quarantine
    if quarantine.count:
        print(f"homecrew: warning: {quarantine.count} ledger record(s) quarantined in "
              f"{ledger.outbox_path} (table quarantine); latest: {quarantine.latest_reason}",
              file=sys.stderr)


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
