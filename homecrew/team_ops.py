"""The team's read-outs as JSON-ready data, shared by the built-in ``homecrew`` tool server
(agents) and ``homecrew mcp serve`` (outside MCP clients): status, spend, alerts, the
watch's checks run now, and tasks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from homecrew.commands.render import status_dict
from homecrew.settings import Settings
from inference.report import GROUPINGS, parse_since, spend_report
from inference.runtime import InferenceStack
from team.engine import TeamEngine
from team.tools.servers import McpServers
from watch.checks import build_checks
from watch.results import run_checks
from watch.store import WatchStore

__all__ = ["TeamOps"]


@dataclass
class TeamOps:
    """What the read-outs need: the settings, the inference stack and the team engine
    (and the MCP servers, once they exist, for their status)."""

    settings: Settings
    stack: InferenceStack
    engine: TeamEngine
    servers: McpServers | None = None

    def status(self) -> dict[str, Any]:
        halt = self.engine.halt_state
        report = status_dict(self.stack, probe_s=0.0)
        report["halt"] = {"active": halt.active, "reason": halt.reason, "by": halt.actor}
        if self.servers is not None:
            report["tool_servers"] = {n: {"state": s.state, "reason": s.reason,
                                          "tools": s.tools}
                                      for n, s in self.servers.status().items()}
        return report

    async def spend(self, period: str = "24h", by: str = "agent") -> dict[str, Any]:
        if by not in GROUPINGS:
            raise ValueError(f"by must be one of {', '.join(GROUPINGS)}")
        db = await self.stack.database()
        report = await spend_report(db, since=time.time() - parse_since(period), by=by)
        return report.to_json()

    async def alerts(self, *, only_open: bool = True, limit: int = 20) -> list[dict[str, Any]]:
        store = await WatchStore.open(await self.stack.database())
        incidents = await store.open_incidents() if only_open else \
            await store.history(limit=limit)
        return [i.to_json() for i in incidents[:limit]]

    async def checks(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            built = build_checks(self.settings, self.settings.watch, client,
                                 board=self.stack.board, ledger=self.stack.ledger)
            try:
                results = await run_checks(built.checks,
                                           self.settings.watch.checks.default_timeout_s)
            finally:
                await built.aclose()
        return [{"check": r.key, "status": r.status.name.lower(), "message": r.message}
                for r in results]

    async def task_list(self, state: str | None = None,
                        owner: str | None = None) -> list[dict[str, Any]]:
        tasks = await self.engine.board.tasks(states=[state] if state else (), owner=owner)
        return [t.to_json() for t in tasks]

    async def task_show(self, task_id: int) -> dict[str, Any]:
        file = await self.engine.board.file(task_id)
        return {
            "task": file.task.to_json(),
            "artifacts": [a.to_json() for a in file.artifacts.values()],
            "signoffs": [s.to_json() for s in file.signoffs],
        }
