""":class:`Toolbox`: the one path every tool call of an agent takes.

``Toolbox.call(agent, call, approver)`` checks, in order: the agent's grant, that the tool
exists, the halt (side-effect tools are refused while the Production Division is halted;
read-only tools still run), approval for side-effect tools (through an
:class:`~team.tools.approval.Approver`, no answer within ``tool_approval_timeout`` is a
deny); then runs the call with its timeout, redacts secret values from the output,
truncates it to ``tool_max_chars`` with a visible marker, and appends a ``tool_call``
entry to the hash-chained audit log — for every call, whatever its outcome.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from inference.errors import StoreError
from inference.store import Database
from personas.schema import Persona, Roster
from team.audit import append_entry
from team.config import TeamSettings
from team.errors import UnknownAgent
from team.halt import HaltSwitch
from team.redaction import Redactor
from team.store import team_transaction
from team.tools.approval import Approver, decide
from team.tools.grants import Grant, granted, parse_grant
from team.tools.model import (
    ApprovalRequest,
    Outcome,
    ServerStatus,
    ToolCall,
    ToolResult,
    ToolSpec,
    arguments_hash,
    text_hash,
)
from team.tools.servers import McpServers

__all__ = ["TRUNCATION_MARKER", "AgentTools", "Toolbox", "truncate"]

log = logging.getLogger(__name__)
TRUNCATION_MARKER = "\n…[truncated: {shown} of {total} characters shown]"


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars] + TRUNCATION_MARKER.format(shown=max_chars, total=len(text)), True


@dataclass(frozen=True, slots=True)
class AgentTools:
    """One agent's tools for ``/tools``: what it may call now, the state of each server
    its grants name, and the grants skipped because their server is not configured."""

    agent: str
    tools: tuple[ToolSpec, ...]
    servers: tuple[ServerStatus, ...]
    skipped: tuple[Grant, ...]


class Toolbox:
    """Agents' tools over :class:`McpServers`, with authority, approval and audit."""

    def __init__(
        self,
        servers: McpServers,
        roster: Roster,
        settings: TeamSettings,
        *,
        db: Database,
        halt: HaltSwitch,
        policy_version: int,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.servers = servers
        self.roster = roster
        self.settings = settings
        self._db = db
        self._halt = halt
        self._policy_version = policy_version
        self._redact = redactor or Redactor()
        self._clock = clock

    # -- what an agent has --------------------------------------------------------------------
    def _persona(self, agent: str) -> Persona:
        try:
            return self.roster.get(agent)
        except KeyError as exc:
            raise UnknownAgent(str(exc.args[0])) from None

    def tools_for(self, agent: str) -> tuple[ToolSpec, ...]:
        """The granted tools currently listed by their servers (offer these to the model)."""
        persona = self._persona(agent)
        return tuple(spec for server in self.servers.names
                     for spec in granted(persona, self.servers.tools(server)))

    def grants(self, agent: str) -> tuple[Grant, ...]:
        return tuple(parse_grant(g) for g in self._persona(agent).tools)

    def skipped(self, agent: str) -> tuple[Grant, ...]:
        """Grants naming servers that are not configured (optional ones excluded)."""
        names = set(self.servers.names)
        return tuple(g for g in self.grants(agent) if not g.optional and g.server not in names)

    def overview(self) -> list[AgentTools]:
        """Every agent's tools and their servers' state, in roster order."""
        status = self.servers.status()
        out = []
        for persona in self.roster:
            named = dict.fromkeys(g.server for g in self.grants(persona.name))
            out.append(AgentTools(persona.name, self.tools_for(persona.name),
                                  tuple(status[n] for n in named if n in status),
                                  self.skipped(persona.name)))
        return out

    def spec(self, agent: str, name: str) -> ToolSpec | None:
        return next((s for s in self.tools_for(agent) if s.name == name), None)

    # -- calling ------------------------------------------------------------------------------
    async def call(self, agent: str, call: ToolCall, approver: Approver) -> ToolResult:
        """Run ``call`` for ``agent``; every refusal or failure is a result, and audited."""
        persona = self._persona(agent)
        result, approved_by, raw = await self._run(persona, call, approver)
        result = self._finish(result, approved_by)
        await self._audit(persona.name, call, raw, result)
        return result

    async def _run(self, persona: Persona, call: ToolCall,
                   approver: Approver) -> tuple[ToolResult, str, str]:
        def refuse(outcome: Outcome, text: str) -> tuple[ToolResult, str, str]:
            return ToolResult(call.id, call.name, text, True, outcome=outcome), "", text

        grants = [parse_grant(g) for g in persona.tools]
        if not any(g.server == call.server and g.tool in (None, call.tool) for g in grants):
            return refuse("not_granted", f"{persona.name} is not granted {call.name}")
        listed = {s.tool: s for s in self.servers.tools(call.server)}
        spec = listed.get(call.tool)
        if spec is None:
            status = self.servers.status().get(call.server)
            if status is None or status.state != "up":
                reason = status.reason if status else "not configured"
                return refuse("unavailable", f"tool unavailable: {call.server} is {reason}")
            return refuse("unknown_tool", f"no tool {call.tool!r} on {call.server}; it has "
                          f"{', '.join(sorted(listed)) or 'none'}")
        approved_by = ""
        if not spec.read_only:
            halt = await self._halt_state()
            if halt is not None:
                return refuse("halted", f"{spec.name} has side effects and is refused during "
                              f"the halt ({halt}); read-only tools still run")
            request = ApprovalRequest(persona.name, spec, call,
                                      self.settings.tool_approval_timeout)
            decision = await decide(approver, request)
            if not decision.approved:
                why = f": {decision.reason}" if decision.reason else ""
                return refuse("denied", f"{spec.name} was not approved{why}")
            approved_by = decision.by or "unknown"
        config = self.servers.config(call.server)
        limit = (config.timeout if config else None) or self.settings.tool_timeout
        result = await self.servers.call(call.server, call.tool, call.arguments,
                                         call_id=call.id, limit_s=limit)
        return result, approved_by, result.content

    async def _halt_state(self) -> str | None:
        try:
            state = await self._halt.refresh()
        except StoreError:
            state = self._halt.state
        return state.describe() if state.active else None

    def _finish(self, result: ToolResult, approved_by: str) -> ToolResult:
        text, cut = truncate(self._redact(result.content), self.settings.tool_max_chars)
        return dataclasses.replace(result, content=text, truncated=cut, approved_by=approved_by)

    async def _audit(self, agent: str, call: ToolCall, raw: str, result: ToolResult) -> None:
        detail = {
            "server": call.server, "tool": call.tool, "call_id": call.id,
            "arguments_sha256": arguments_hash(call.arguments),
            "result_sha256": text_hash(raw), "outcome": result.outcome,
            "is_error": result.is_error, "approved_by": result.approved_by,
        }
        try:
            async with team_transaction(self._db) as tx:
                await append_entry(tx, ts=self._clock(), actor=agent, action="tool_call",
                                   policy_version=self._policy_version,
                                   reason=f"{call.name}: {result.outcome}", detail=detail)
        except StoreError as exc:
            log.warning("could not audit %s's call of %s: %s", agent, call.name, exc)
