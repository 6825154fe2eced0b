"""``homecrew doctor``: check a set-up end to end and say what to fix.

Config (loaded by the caller), secrets present (values never shown), every node reachable
with its configured models listed (Ollama nodes through the official client: which
configured models are not pulled), Redis and PostgreSQL when configured, each MCP
server started and its tools listed, persona tool grants naming unconfigured servers
(a warning), then Discord
(:mod:`bot.doctor_discord`): the token, the application's message-content intent, the
guild, the bot's permissions, the agent channels, and a webhook to speak through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import httpx

from bot.config import DiscordSettings
from inference.config import InferenceSettings, NodeConfig, mask_url_password
from inference.node_http import ssl_context
from inference.ollama_admin import (
    OLLAMA_ERRORS,
    OllamaAdmin,
    describe_ollama_error,
    missing_models,
    wanted_models,
)
from inference.probes import describe_http_error
from personas.schema import Roster
from team.tools import McpServerConfig, McpServers, unconfigured_grants

__all__ = [
    "DoctorReport",
    "Finding",
    "check_ledger_outbox",
    "check_mcp_servers",
    "check_nodes",
    "check_secrets",
    "check_stores",
    "check_tool_grants",
]


@dataclass(frozen=True, slots=True)
class Finding:
    area: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # worth a look, but not a problem (ok stays true)

    def line(self) -> str:
        mark = "!" if self.warning else "✓" if self.ok else "✗"
        text = f"{mark} {self.area}: {self.detail}"
        shown = self.fix and (self.warning or not self.ok)
        return text + (f"\n    fix: {self.fix}" if shown else "")


@dataclass
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def add(self, *findings: Finding) -> None:
        self.findings.extend(findings)

    def text(self) -> str:
        problems = sum(1 for f in self.findings if not f.ok)
        summary = "all good" if not problems else f"{problems} problem(s) to fix"
        return "\n".join([*(f.line() for f in self.findings), f"-- {summary}"])

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "findings": [asdict(f) for f in self.findings]}


def check_secrets(settings: InferenceSettings, discord: DiscordSettings) -> list[Finding]:
    out = []
    for name, node in settings.nodes.items():
        if node.kind == "anthropic" or (node.is_cloud and node.api_key is None):
            present = node.api_key is not None and bool(node.api_key.get_secret_value())
            out.append(Finding(f"secret nodes.{name}.api_key", present,
                               "set (not shown)" if present else "empty",
                               "put the key in .env (the variable nodes."
                               f"{name}.api_key refers to, e.g. ANTHROPIC_API_KEY)"))
    token = discord.token is not None and bool(discord.token.get_secret_value())
    out.append(Finding("secret DISCORD_TOKEN", token, "set (not shown)" if token else "empty",
                       "copy the bot token (Developer Portal → Bot → Reset Token) into .env"))
    out.append(Finding("discord guild", bool(discord.guild_ids),
                       ", ".join(map(str, discord.guild_ids)) or "not set",
                       "put your server's id in .env as DISCORD_GUILD_ID (Developer Mode → "
                       "right-click the server → Copy Server ID)"))
    return out


def _models_url(node: NodeConfig) -> tuple[str, dict[str, str]]:
    base = (node.base_url or "https://api.anthropic.com").rstrip("/")
    key = node.api_key.get_secret_value() if node.api_key else ""
    if node.kind == "anthropic":
        path = "/models" if base.endswith("/v1") else "/v1/models"
        return base + path, {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return f"{base}/models", ({"Authorization": f"Bearer {key}"} if key else {})


def _listed(response: httpx.Response) -> set[str]:
    """The model ids of an OpenAI-style ``/models`` answer (none, if it is not one)."""
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        return set()
    if not isinstance(data, list):
        return set()
    return {str(m.get("id")) for m in data if isinstance(m, dict)}


def _has(listed: set[str], wanted: str) -> bool:
    return any(name in (wanted, f"{wanted}:latest") or name.startswith(f"{wanted}-")
               for name in listed)


async def _check_node(settings: InferenceSettings, name: str, node: NodeConfig,
                      limit_s: float) -> Finding:
    if node.kind == "ollama":
        return await _check_ollama(settings, name, node, limit_s)
    url, headers = _models_url(node)
    wanted = wanted_models(settings, name)
    started = time.perf_counter()
    # local nodes are reached directly (as the chain does); cloud ones as LiteLLM does
    async with httpx.AsyncClient(timeout=limit_s, verify=ssl_context(node.tls),
                                 trust_env=node.is_cloud) as client:
        try:
            response = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            return _unreachable(name, node, url, describe_http_error(exc))
    took = (time.perf_counter() - started) * 1000
    if response.status_code in (401, 403):
        return Finding(f"node {name}", False, f"refused the API key ({response.status_code})",
                       f"check nodes.{name}.api_key")
    if response.status_code >= 400:
        return Finding(f"node {name}", False,
                       f"answered {response.status_code} to {mask_url_password(url)}",
                       f"check nodes.{name}.base_url")
    listed = _listed(response)
    missing = [m for m in wanted if not _has(listed, m)]
    if missing:
        return Finding(f"node {name}", False, f"up ({took:.0f} ms) but does not list "
                       f"{', '.join(missing)}", f"load/serve {' '.join(missing)} "
                       "(or fix models.*)")
    return Finding(f"node {name}", True, f"up ({took:.0f} ms); models listed: "
                   f"{', '.join(wanted) or 'none configured'}")


async def _check_ollama(settings: InferenceSettings, name: str, node: NodeConfig,
                        limit_s: float) -> Finding:
    """Through the official client: the version, and which configured models are pulled."""
    wanted = wanted_models(settings, name)
    started = time.perf_counter()
    try:
        async with OllamaAdmin(node, timeout_s=limit_s) as admin:
            version = await admin.version()
            pulled = await admin.pulled()
    except OLLAMA_ERRORS as exc:
        return _unreachable(name, node, node.base_url or "", describe_ollama_error(exc))
    took = (time.perf_counter() - started) * 1000
    missing = missing_models(pulled, wanted)
    if missing:
        return Finding(f"node {name}", False, f"up (Ollama {version}, {took:.0f} ms) but "
                       f"not pulled: {', '.join(missing)}",
                       f"ollama pull {' '.join(missing)} (on that host; or fix models.*)")
    return Finding(f"node {name}", True, f"up (Ollama {version}, {took:.0f} ms); models "
                   f"pulled: {', '.join(wanted) or 'none configured'}")


def _unreachable(name: str, node: NodeConfig, url: str, why: str) -> Finding:
    if why.startswith("TLS failure"):
        return Finding(f"node {name}", False, f"{why} at {node.shown_url or url}",
                       f"set nodes.{name}.tls.ca_file to the CA that signed the node's "
                       "certificate (or fix the node's certificate)")
    return Finding(f"node {name}", False, f"unreachable at {node.shown_url or url} ({why})",
                   f"start the server or fix nodes.{name}.base_url")


async def check_nodes(settings: InferenceSettings, *, limit_s: float = 5.0) -> list[Finding]:
    return list(await asyncio.gather(*(
        _check_node(settings, name, node, limit_s) for name, node in settings.nodes.items()
    )))


async def _timed(area: str, probe: Callable[[], Awaitable[str]], fix: str,
                 limit_s: float) -> Finding:
    try:
        async with asyncio.timeout(limit_s):
            return Finding(area, True, await probe())
    except TimeoutError:
        return Finding(area, False, f"no answer within {limit_s:g} s", fix)
    except Exception as exc:  # any driver error is a finding, not a crash
        return Finding(area, False, f"{type(exc).__name__}", fix)


async def check_stores(settings: InferenceSettings, *, limit_s: float = 5.0) -> list[Finding]:
    out = []
    redis_url = settings.cache.redis_url
    if redis_url:
        out.append(await _timed("redis", lambda: _ping_redis(redis_url),
                                "start Redis or fix cache.redis_url / REDIS_URL", limit_s))
    else:
        out.append(Finding("redis", True, "not configured: in-process cache"))
    db_url = settings.ledger.database_url
    if db_url and db_url.startswith(("postgres://", "postgresql://")):
        out.append(await _timed("postgresql", lambda: _ping_postgres(db_url, limit_s),
                                "start PostgreSQL or fix ledger.database_url / DATABASE_URL",
                                limit_s))
    else:
        out.append(Finding("postgresql", True, "not configured: SQLite in the data dir"))
    return out


async def _ping_redis(url: str) -> str:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        started = time.perf_counter()
        await cast(Awaitable[bool], client.ping())
        return f"PING answered in {(time.perf_counter() - started) * 1000:.1f} ms"
    finally:
        await client.aclose()


async def _ping_postgres(url: str, limit_s: float) -> str:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=limit_s)
    try:
        started = time.perf_counter()
        await connection.fetchval("SELECT 1")
        return f"SELECT 1 answered in {(time.perf_counter() - started) * 1000:.1f} ms"
    finally:
        await connection.close()


async def check_ledger_outbox(settings: InferenceSettings) -> Finding:
    """Records waiting in the local outbox are fine; quarantined ones need a look."""
    from inference.errors import StoreError
    from inference.ledger import outbox_path
    from inference.outbox import inspect_outbox

    path = outbox_path(settings)
    try:
        state = await inspect_outbox(path)
    except StoreError as exc:
        return Finding("ledger outbox", False, str(exc), f"check {path} and the data dir")
    if state is None:
        return Finding("ledger outbox", True, "empty (not created yet)")
    detail = f"{state.waiting} record(s) waiting for the database"
    if not state.quarantine.count:
        return Finding("ledger outbox", True, detail)
    return Finding(
        "ledger outbox", False,
        f"{detail}; {state.quarantine.count} quarantined, latest: "
        f"{state.quarantine.latest_reason}",
        f"look at the quarantine table of {path} (sqlite3); fix or delete those rows",
    )


def check_tool_grants(roster: Roster, servers: Collection[str]) -> list[Finding]:
    """A warning per persona grant naming a server that is not configured (it is skipped)."""
    return [Finding(f"tools {agent}", True, f"grant {grant} skipped: no MCP server "
                    f"{grant.server!r} is configured",
                    f"add {grant.server} under mcp_servers: or remove it from "
                    f"{agent}'s tools", warning=True)
            for agent, grant in unconfigured_grants(roster, servers)]


async def check_mcp_servers(configs: Mapping[str, McpServerConfig], *,
                            limit_s: float = 20.0) -> list[Finding]:
    """Start every configured MCP server once and list its tools."""
    if not configs:
        return []
    async with McpServers(configs, start_timeout=limit_s) as servers:
        await servers.wait_settled(within=limit_s)
        return [Finding(f"mcp {name}", status.state == "up",
                        f"up: {status.tools} tools" if status.state == "up"
                        else f"{status.state}: {status.reason}",
                        f"check mcp_servers.{name} (command/url) and that the server starts")
                for name, status in servers.status().items()]
