"""The team's tools over MCP: servers, grants, approval, audit (Discord-free).

Building blocks, for the model-side tool loop (engine, node wire formats, Discord, CLI)::

    servers = McpServers(settings.mcp_servers,                 # config: mcp_servers:
                         in_process={"homecrew": builtin},     # homecrew.builtin_tools
                         call_timeout=settings.team.tool_timeout)
    servers.start()                    # returns at once; each server starts in background
    toolbox = Toolbox(servers, roster, settings.team, db=board.db, halt=board.halt_switch,
                      policy_version=board.policy.version, redactor=Redactor(secrets))
    specs = toolbox.tools_for("nellie")          # ToolSpec: name "server.tool", description,
                                                 # input_schema (JSON schema), read_only
    result = await toolbox.call("nellie", ToolCall("fetch.fetch", {"url": u}, id="call_1"),
                                approver)        # -> ToolResult, never raises for tool trouble
    ...
    await servers.aclose()

- **Offering tools**: ``Toolbox.tools_for(agent)`` gives the granted tools whose servers
  have listed them; map each to the node's wire format (OpenAI ``function`` with
  ``parameters=spec.input_schema``; names may need ``.`` replaced — keep a name map).
- **Results**: ``ToolResult.content`` is already redacted (secret values masked) and
  truncated to ``team.tool_max_chars`` (``truncated`` is set; the text ends with a marker).
  ``is_error``/``outcome`` say what happened: ``ok``, ``error`` (the tool said so),
  ``denied``, ``halted``, ``not_granted``, ``unknown_tool``, ``unavailable`` (server
  starting/down/crashed — it is restarted in the background), ``timeout``. Feed it back
  as a *tool message* (untrusted data), never as instructions. Discord mentions such as
  ``@everyone`` are NOT neutralised here: the bot must post tool-derived text with
  mentions disabled.
- **Approval**: side-effect tools (no MCP ``readOnlyHint``, or ``side_effects`` in config)
  go through an :class:`Approver` (``async approve(ApprovalRequest) -> ApprovalDecision``).
  Ready: :class:`AutoApprove` (CLI ``--approve``), :class:`DenyAll`, :class:`TtyApprover`
  (y/N, deny off a TTY). The bot's Approve/Deny buttons implement the same protocol;
  ``tool_approval_timeout`` is enforced by the Toolbox (no answer = deny).
- **Halt**: while halted, side-effect tools get outcome ``halted``; read-only ones run.
- **Audit**: every call appends a ``tool_call`` entry (agent, server, tool, sha256 of
  the arguments and of the raw result, outcome, approved_by) to ``team/audit.py``'s chain.
- **Status**: ``McpServers.status()`` → ``{name: ServerStatus(state up|starting|down,
  reason, tools, restarts)}`` for ``/tools``, doctor and status; ``Toolbox.skipped(agent)``
  lists grants naming unconfigured servers; ``grants.unconfigured_grants`` for doctor;
  ``Toolbox.overview()`` gives one ``AgentTools`` per agent (its tools, its servers'
  status, skipped grants): what ``/tools`` shows.
- **Limits**: ``team.tool_max_steps`` (loop bound, the engine's job), ``tool_timeout``,
  ``tool_max_chars``, ``tool_approval_timeout`` live in :class:`team.config.TeamSettings`.
"""

from typing import TYPE_CHECKING, Any

from team.tools.approval import Approver, AutoApprove, DenyAll, TtyApprover
from team.tools.config import BUILTIN_SERVER, McpServerConfig
from team.tools.grants import (
    Grant,
    granted,
    granted_servers,
    parse_grant,
    unconfigured_grants,
)
from team.tools.model import (
    ApprovalDecision,
    ApprovalRequest,
    ServerStatus,
    ToolCall,
    ToolResult,
    ToolSpec,
)

if TYPE_CHECKING:
    from team.tools.servers import McpServers
    from team.tools.toolbox import Toolbox

__all__ = [
    "BUILTIN_SERVER",
    "ApprovalDecision",
    "ApprovalRequest",
    "Approver",
    "AutoApprove",
    "DenyAll",
    "Grant",
    "McpServerConfig",
    "McpServers",
    "ServerStatus",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Toolbox",
    "TtyApprover",
    "granted",
    "granted_servers",
    "parse_grant",
    "unconfigured_grants",
]


def __getattr__(name: str) -> Any:
    """``McpServers`` and ``Toolbox`` load the MCP SDK: only on first use, so reading the
    settings (which include ``mcp_servers``) stays fast for every command."""
    if name == "McpServers":
        from team.tools.servers import McpServers
        return McpServers
    if name == "Toolbox":
        from team.tools.toolbox import Toolbox
        return Toolbox
    raise AttributeError(f"module 'team.tools' has no attribute {name!r}")
