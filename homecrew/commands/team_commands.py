"""``team``, ``task new|list|show|attach|signoff|move|ship``, ``halt``, ``resume``, ``audit``,
and the agent side of ``ask --agent``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from homecrew import render
from homecrew.commands.options import settle_ledger
from homecrew.compose import open_task_board
from homecrew.settings import Settings, load_settings
from inference.runtime import InferenceStack, route_nodes
from personas.loader import load_policy, load_roster
from team import render as team_render
from team.actors import Actor, resolve_actor
from team.audit import list_entries, verify_chain
from team.board import TaskBoard
from team.engine import TeamEngine
from team.events import (
    PlanReady,
    ReplyFinished,
    StepFinished,
    StepStarted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    Waiting,
)
from team.tasks import STATES, ClaimCheck, Decision, TaskState
from team.tools.approval import AutoApprove, TtyApprover
from team.tools.grants import granted_servers

__all__ = ["ask_agent", "register"]


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    team = sub.add_parser("team", parents=parents, help="the agents: divisions, routes, authority")
    team.add_argument("--json", action="store_true", help="a JSON array of the agents")
    team.set_defaults(handler=_team)
    _register_task(sub, parents)
    halt = sub.add_parser("halt", parents=parents, help="halt the Production Division")
    halt.add_argument("reason")
    _acting(halt)
    halt.set_defaults(handler=_halt)
    resume = sub.add_parser("resume", parents=parents, help="lift a halt")
    resume.add_argument("reason", nargs="?", default="")
    _acting(resume)
    resume.set_defaults(handler=_resume)
    audit = sub.add_parser("audit", parents=parents, help="the audit log of the rules")
    audit.add_argument("--task", type=int, metavar="ID", help="only this task's entries")
    audit.add_argument("--limit", type=int, help="only the newest N entries")
    audit.add_argument("--verify", action="store_true", help="check the hash chain (exit 1 "
                       "when broken)")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=_audit)


def _acting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", metavar="NAME",
                        help="act as this person or agent (default: team.operator)")


def _register_task(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    task = sub.add_parser("task", help="tasks under the rules of engagement")
    actions = task.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    new = actions.add_parser("new", parents=parents, help="create a task (prints its id)")
    new.add_argument("title")
    new.add_argument("--kind", required=True)
    new.add_argument("--owner", required=True, metavar="AGENT")
    new.add_argument("--areas", help="comma-separated, e.g. backend,frontend (default: the "
                     "kind's)")
    _acting(new)
    new.set_defaults(handler=_task_new)
    lst = actions.add_parser("list", parents=parents, help="list tasks")
    lst.add_argument("--state", action="append", choices=STATES)
    lst.add_argument("--owner", metavar="AGENT")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=_task_list)
    show = actions.add_parser("show", parents=parents, help="a task, its sign-offs and gates")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_task_show)
    attach = actions.add_parser("attach", parents=parents, help="attach an artifact")
    attach.add_argument("id", type=int)
    attach.add_argument("--kind", required=True, help="contract, docs, script, …")
    attach.add_argument("file", type=Path, help="the content ('-' reads standard input)")
    _acting(attach)
    attach.set_defaults(handler=_task_attach)
    sign = actions.add_parser("signoff", parents=parents, help="record an agent's sign-off")
    sign.add_argument("id", type=int)
    sign.add_argument("--agent", required=True, help="whose sign-off (e.g. gonzo)")
    sign.add_argument("--topic", required=True, help="e.g. contract, security, accuracy")
    sign.add_argument("--decision", choices=["approve", "changes_requested", "deny"],
                      default="approve")
    sign.add_argument("--note", default="")
    sign.add_argument("--claim", action="append", default=[], metavar="VERDICT:CLAIM",
                      help="a checked claim, e.g. 'correct:MLX runs on Apple Silicon'")
    _acting(sign)
    sign.set_defaults(handler=_task_signoff)
    for name, helptext in (("move", "request a transition"), ("ship", "ship a task")):
        cmd = actions.add_parser(name, parents=parents, help=helptext)
        cmd.add_argument("id", type=int)
        if name == "move":
            cmd.add_argument("state", choices=STATES)
        cmd.add_argument("--override", metavar="REASON", help="admin: override unmet gates")
        cmd.add_argument("--json", action="store_true")
        _acting(cmd)
        cmd.set_defaults(handler=_task_move)


# -- plumbing -------------------------------------------------------------------------------
def _actor(board: TaskBoard, settings: Settings, name: str | None) -> Actor:
    return resolve_actor(name or settings.team.operator, board.roster, settings.team.admins)


def _run(args: argparse.Namespace, body: Any) -> int:
    settings = load_settings(args.config)
    return cast(int, asyncio.run(body(settings, args)))


# -- team -----------------------------------------------------------------------------------
def _team(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    roster = load_roster(settings.team.personas_dir)
    load_policy(settings.team.rules_file, roster)
    if args.json:
        print(json.dumps(team_render.roster_json(roster), indent=2, ensure_ascii=False))
    else:
        print(team_render.roster_chart(roster, settings.team.admins))
    return 0


# -- task -----------------------------------------------------------------------------------
def _task_new(args: argparse.Namespace) -> int:
    async def body(settings: Settings, args: argparse.Namespace) -> int:
        async with open_task_board(settings) as board:
            areas = [a.strip() for a in args.areas.split(",") if a.strip()] if args.areas \
                else None
            task = await board.create(_actor(board, settings, args.actor), kind=args.kind,
                                      owner=args.owner.lower(), title=args.title, areas=areas)
        print(f"created task {task.id}: {task.kind} for {task.owner} — {task.title}",
              file=sys.stderr)
        print(task.id)
        return 0
    return _run(args, body)


def _task_list(args: argparse.Namespace) -> int:
    async def body(settings: Settings, args: argparse.Namespace) -> int:
        async with open_task_board(settings) as board:
            tasks = await board.tasks(states=args.state or (), owner=args.owner)
        if args.json:
            print(json.dumps([t.to_json() for t in tasks], indent=2, ensure_ascii=False))
        else:
            print(team_render.task_table(tasks))
        return 0
    return _run(args, body)


def _task_show(args: argparse.Namespace) -> int:
    async def body(settings: Settings, args: argparse.Namespace) -> int:
        async with open_task_board(settings) as board:
            file = await board.file(args.id)
            targets = sorted(board.next_states(file.task), key=STATES.index)
            previews = [await board.preview(args.id, t) for t in targets]
        if args.json:
            print(json.dumps({
                "task": file.task.to_json(),
                "artifacts": [a.to_json() for a in file.artifacts.values()],
                "signoffs": [s.to_json() for s in file.signoffs],
                "next": [p.to_json() for p in previews],
            }, indent=2, ensure_ascii=False))
        else:
            print(team_render.task_detail(file, previews))
        return 0
    return _run(args, body)


def _task_attach(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        content = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"homecrew: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2

    async def body(settings: Settings, args: argparse.Namespace) -> int:
        async with open_task_board(settings) as board:
            art = await board.attach(_actor(board, settings, args.actor), args.id, args.kind,
                                     content)
        print(f"task {args.id}: {art.kind} v{art.version} attached (sha256 {art.sha256})")
        return 0
    return _run(args, body)


def _claims(raw: list[str]) -> list[ClaimCheck]:
    claims = []
    for item in raw:
        verdict, _, claim = item.partition(":")
        if verdict not in ("correct", "incorrect", "unverified") or not claim.strip():
            raise SystemExit(f"homecrew: --claim wants VERDICT:CLAIM with VERDICT one of "
                             f"correct, incorrect, unverified (got {item!r})")
        claims.append(ClaimCheck(claim.strip(), cast(Any, verdict)))
    return claims


def _task_signoff(args: argparse.Namespace) -> int:
    async def body(settings: Settings, args: argparse.Namespace) -> int:
        async with open_task_board(settings) as board:
            sign = await board.sign(
                _actor(board, settings, args.actor), args.id, signer=args.agent.lower(),
                topic=args.topic, decision=cast(Decision, args.decision), notes=args.note,
                claims=_claims(args.claim),
            )
            state = (await board.file(args.id)).task.state
        print(f"task {args.id}: {sign.signer} {sign.decision} {sign.topic} (task is {state})")
        return 0
    return _run(args, body)


def _task_move(args: argparse.Namespace) -> int:
    async def body(settings: Settings, args: argparse.Namespace) -> int:
        target = cast(TaskState, getattr(args, "state", None) or "shipped")
        async with open_task_board(settings) as board:
            ruling = await board.request(_actor(board, settings, args.actor), args.id, target,
                                         override=args.override)
        if args.json:
            print(json.dumps({"task": args.id, **ruling.to_json()}, indent=2))
        else:
            print(team_render.ruling_text(args.id, ruling),
                  file=sys.stdout if ruling.allowed else sys.stderr)
        return 0 if ruling.allowed else 1
    return _run(args, body)


# -- halt / resume / audit --------------------------------------------------------------------
def _halt(args: argparse.Namespace) -> int:
    async def body(settings: Settings, args: argparse.Namespace) -> int:
        async with open_task_board(settings) as board:
            state = await board.halt(_actor(board, settings, args.actor), args.reason)
        print(state.describe())
        return 0
    return _run(args, body)


def _resume(args: argparse.Namespace) -> int:
    async def body(settings: Settings, args: argparse.Namespace) -> int:
        async with open_task_board(settings) as board:
            state = await board.resume(_actor(board, settings, args.actor), args.reason)
        print(f"Production Division resumed by {state.actor}")
        return 0
    return _run(args, body)


def _audit(args: argparse.Namespace) -> int:
    async def body(settings: Settings, args: argparse.Namespace) -> int:
        async with open_task_board(settings) as board:
            entries = await list_entries(board.db, task_id=args.task, limit=args.limit)
            report = await verify_chain(board.db) if args.verify else None
        if args.json:
            out: dict[str, Any] = {"entries": [e.to_json() for e in entries]}
            if report is not None:
                out["chain"] = {"ok": report.ok, "entries": report.entries,
                                "head_hash": report.head_hash,
                                "first_bad_seq": report.first_bad_seq, "problem": report.problem}
            print(json.dumps(out, indent=2, ensure_ascii=False))
        else:
            print(team_render.audit_text(entries))
            if report is not None:
                print(team_render.chain_text(report))
        return 1 if report is not None and not report.ok else 0
    return _run(args, body)


# -- ask --agent ----------------------------------------------------------------------------
def ask_agent(args: argparse.Namespace, settings: Settings, prompt: str) -> int:
    """``homecrew ask --agent NAME``: the persona, its route, a persisted conversation."""
    record = asyncio.run(_ask_agent(settings, args, prompt))
    return 0 if record.status == "complete" else 1


async def _ask_agent(settings: Settings, args: argparse.Namespace, prompt: str) -> ReplyFinished:
    agent = args.agent.lower()
    conversation = args.conversation or f"cli:{settings.team.operator}:{agent}"
    personas = [p for p in load_roster(settings.team.personas_dir) if p.name == agent]
    routes = [p.route for p in personas]
    operator = settings.team.operator
    approver = AutoApprove(operator) if args.approve else TtyApprover(operator)
    async with InferenceStack.open(settings, probe_nodes=route_nodes(settings, *routes)) as stack, \
            TeamEngine.open(stack, settings.team, watch_halt=False) as team, \
            _agent_tools(settings, stack, team, servers=granted_servers(personas)):
        handle = await team.reply(conversation, agent, prompt, author=operator,
                                  use_cache=not args.no_cache, approver=approver)
        async for event in handle:
            _show(event, quiet=args.json)
        record = await handle.result()
        await settle_ledger(stack.ledger)
    if args.json:
        print(json.dumps(_ask_json(record, conversation), ensure_ascii=False))
    elif record.status != "complete":
        print(f"homecrew: {agent}'s reply {record.status}: {record.reason}", file=sys.stderr)
    return record


@asynccontextmanager
async def _agent_tools(settings: Settings, stack: InferenceStack, team: TeamEngine, *,
                       servers: frozenset[str]) -> AsyncIterator[None]:
    """The MCP servers the agent's grants name (only those: a one-shot question does not
    start the whole lab's servers), waiting for them to come up or fail once, so the
    question does not miss its tools by asking too early."""
    if not servers:
        yield
        return
    from homecrew.builtin_tools import open_tools  # loads the MCP SDK

    async with open_tools(settings, stack, team, only=servers) as toolbox:
        await toolbox.servers.wait_settled(within=settings.team.tool_timeout)
        team.use_tools(toolbox)
        yield


def _show(event: Any, *, quiet: bool) -> None:
    if isinstance(event, TextDelta):
        if not quiet:
            sys.stdout.write(event.text)
            sys.stdout.flush()
    elif isinstance(event, ToolStarted):
        print(event.line(), file=sys.stderr)
    elif isinstance(event, ToolFinished):
        if event.outcome != "ok":
            print(f"[{event.server}.{event.tool}: {event.outcome}]", file=sys.stderr)
    elif isinstance(event, PlanReady):
        steps = "; ".join(f"{s.agent}: {s.task}" for s in event.plan.steps) or "answer directly"
        print(f"[plan {event.round} ({event.source})] {steps}", file=sys.stderr)
    elif isinstance(event, StepStarted):
        print(f"[→ {event.agent}] {event.task}", file=sys.stderr)
    elif isinstance(event, StepFinished):
        r = event.result
        print(f"[{r.agent} {r.status}]" + (f" {r.reason}" if r.reason else ""), file=sys.stderr)
    elif isinstance(event, Waiting):
        print(f"[waiting] {event.reason}", file=sys.stderr)
    elif isinstance(event, ReplyFinished) and not quiet:
        sys.stdout.write("\n")
        if event.done is not None:
            print(render.footer(event.done), file=sys.stderr)


def _ask_json(record: ReplyFinished, conversation: str) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(
        ("node", "model", "cached", "latency_s", "ttft_s", "fallback_depth", "hedged"))
    if record.done is not None:
        base.update(render.ask_json(record.done))
    base.update({
        "text": record.text, "cost_usd": record.cost_usd, "agent": record.agent,
        "conversation": conversation, "status": record.status, "reason": record.reason,
        "steps": [{"agent": s.agent, "task": s.task, "status": s.status} for s in record.steps],
    })
    return base
