"""The Discord half of ``homecrew doctor``, over plain REST (``GET /users/@me`` first).

The API base is overridable (``discord.api_base`` or ``--discord-api``) so the checks run
against a proxy or the local stand-in. The token goes in the Authorization header only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.channels import ChannelMap
from bot.command_sync import read_record
from bot.config import DiscordSettings
from bot.doctor import Finding
from bot.endpoints import DISCORD_API
from bot.permissions import BOT_PERMISSIONS, missing_permissions
from personas.schema import Roster

__all__ = ["check_discord", "invite_url"]

_CONTENT_INTENT = (1 << 18) | (1 << 19)  # GATEWAY_MESSAGE_CONTENT (or _LIMITED)
_ADMINISTRATOR = 1 << 3


def invite_url(application_id: str) -> str:
    return ("https://discord.com/oauth2/authorize?client_id="
            f"{application_id}&scope=bot+applications.commands&permissions={BOT_PERMISSIONS}")


@dataclass
class _Session:
    client: httpx.AsyncClient
    app_id: str = ""
    bot_id: str = ""

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)


async def check_discord(settings: DiscordSettings, roster: Roster, *,
                        api_base: str | None = None, limit_s: float = 10.0,
                        sync_record: Path | None = None) -> list[Finding]:
    """``sync_record``: where the bot writes its last slash-command sync (why it failed)."""
    if settings.token is None:
        return [Finding("discord", False, "skipped: no token", "set DISCORD_TOKEN in .env")]
    base = (api_base or settings.api_base or DISCORD_API).rstrip("/")
    headers = {"Authorization": f"Bot {settings.token.get_secret_value()}",
               "User-Agent": "homecrew-doctor"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=limit_s) as client:
        session = _Session(client)
        try:
            return await _checks(session, settings, roster, sync_record)
        except httpx.HTTPError as exc:
            return [Finding("discord", False, f"cannot reach {base} ({type(exc).__name__})",
                            "check the network (or discord.api_base)")]


async def _checks(session: _Session, settings: DiscordSettings, roster: Roster,
                  sync_record: Path | None) -> list[Finding]:
    me = await session.get("/users/@me")
    if me.status_code == 401:
        return [Finding("discord token", False, "Discord says the token is invalid",
                        "Developer Portal → your app → Bot → Reset Token; put it in .env")]
    if me.status_code != 200:
        return [Finding("discord token", False, f"GET /users/@me answered {me.status_code}")]
    user = me.json()
    session.bot_id = str(user["id"])
    out = [Finding("discord token", True, f"valid: logged in as {user.get('username')}")]
    out.append(await _intent(session))
    for guild_id in settings.guild_ids:
        out.extend(await _guild(session, settings, roster, guild_id))
        if session.app_id:
            out.append(await _commands(session, guild_id, sync_record))
    return out


async def _intent(session: _Session) -> Finding:
    app = await session.get("/applications/@me")
    if app.status_code != 200:
        return Finding("message content intent", False, f"cannot read the application "
                       f"({app.status_code})")
    body = app.json()
    session.app_id = str(body.get("id", ""))
    if int(body.get("flags") or 0) & _CONTENT_INTENT:
        return Finding("message content intent", True, "enabled")
    return Finding("message content intent", False, "not enabled: agents would see empty "
                   "messages", "Developer Portal → Bot → Privileged Gateway Intents → turn on "
                   "Message Content Intent")


async def _guild(session: _Session, settings: DiscordSettings, roster: Roster,
                 guild_id: int) -> list[Finding]:
    area = f"guild {guild_id}"
    guild = await session.get(f"/guilds/{guild_id}")
    if guild.status_code != 200:
        return [Finding(area, False, "the bot is not in this server (or the id is wrong)",
                        f"invite it: {invite_url(session.app_id or 'APP_ID')}")]
    out = [Finding(area, True, f"the bot is in {guild.json().get('name')!r}")]
    out.append(await _permissions(session, guild_id))
    channels = await session.get(f"/guilds/{guild_id}/channels")
    listed = [c for c in channels.json() if c.get("type") == 0] if channels.is_success else []
    out.append(_channels(settings, roster, listed))
    out.append(await _webhook(session, settings, roster, listed))
    return out


async def _permissions(session: _Session, guild_id: int) -> Finding:
    member = await session.get(f"/guilds/{guild_id}/members/{session.bot_id}")
    roles = await session.get(f"/guilds/{guild_id}/roles")
    if not (member.is_success and roles.is_success):
        return Finding("bot permissions", False, "cannot read the bot's roles",
                       f"re-invite with {invite_url(session.app_id or 'APP_ID')}")
    by_id = {str(r["id"]): int(r.get("permissions") or 0) for r in roles.json()}
    granted = by_id.get(str(guild_id), 0)
    for role_id in member.json().get("roles", []):
        granted |= by_id.get(str(role_id), 0)
    missing = missing_permissions(granted)
    if missing:
        return Finding("bot permissions", False, f"missing {', '.join(missing)}",
                       f"give the bot's role these permissions (or re-invite with "
                       f"{invite_url(session.app_id or 'APP_ID')})")
    admin = " (Administrator)" if granted & _ADMINISTRATOR else ""
    return Finding("bot permissions", True, f"everything needed{admin}")


def _channels(settings: DiscordSettings, roster: Roster, listed: list[dict[str, Any]]) -> Finding:
    names = {str(c.get("name")) for c in listed}
    channels = ChannelMap.build(roster, settings)
    wanted = [*channels.by_agent.values(), channels.alerts]
    missing = [f"#{n}" for n in wanted if n not in names]
    if missing:
        return Finding("agent channels", False, f"missing {', '.join(missing)}",
                       "create them (or map agents to channels under discord.channels)")
    return Finding("agent channels", True, " ".join(f"#{n}" for n in wanted))


async def _webhook(session: _Session, settings: DiscordSettings, roster: Roster,
                   listed: list[dict[str, Any]]) -> Finding:
    """Find the bot's webhook in the first agent channel, or create it (the bot reuses it)."""
    channels = ChannelMap.build(roster, settings)
    agent_names = set(channels.by_agent.values())
    channel = next((c for c in listed if c.get("name") in agent_names), None)
    if channel is None:
        return Finding("webhooks", False, "no agent channel to try", "create the channels")
    where = f"#{channel['name']}"
    hooks = await session.get(f"/channels/{channel['id']}/webhooks")
    if hooks.status_code == 403:
        return Finding("webhooks", False, f"not allowed in {where}",
                       "give the bot Manage Webhooks (agents post under their own names)")
    for hook in hooks.json() if hooks.is_success else []:
        owner = str((hook.get("user") or {}).get("id", ""))
        if hook.get("name") == settings.webhook_name and owner == session.bot_id:
            return Finding("webhooks", True, f"the bot's webhook exists in {where}")
    made = await session.client.post(f"/channels/{channel['id']}/webhooks",
                                     json={"name": settings.webhook_name})
    if made.is_success:
        return Finding("webhooks", True, f"created the bot's webhook in {where} (reused later)")
    return Finding("webhooks", False, f"cannot create a webhook in {where} "
                   f"({made.status_code})", "give the bot Manage Webhooks")


def _discord_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    return f"{response.status_code}" + (f", code {code}" if code else "") + (
        f": {message}" if message else "")


async def _commands(session: _Session, guild_id: int, record_path: Path | None) -> Finding:
    """The slash commands registered in the guild, and why not when the bot's last sync
    failed (its record in the data directory)."""
    listing = await session.get(f"/applications/{session.app_id}/guilds/{guild_id}/commands")
    if not listing.is_success:
        return Finding("slash commands", False, "Discord does not let the bot register "
                       f"commands here ({_discord_error(listing)})",
                       f"re-invite it with the applications.commands scope: "
                       f"{invite_url(session.app_id)}")
    record = read_record(record_path) if record_path is not None else None
    if record is not None and not record.synced:
        ago = max(0.0, time.time() - record.at)
        return Finding("slash commands", False, f"not synced: {record.problem} (the bot's "
                       f"last attempt, {ago / 60:.0f} min ago; it keeps retrying)",
                       "the bot answers messages meanwhile; if Discord refused the commands "
                       "(4xx), check the bot's log for the details")
    names = sorted(str(c.get("name")) for c in listing.json())
    if not names:
        return Finding("slash commands", True, "none registered yet: the bot registers "
                       "them when it starts")
    return Finding("slash commands", True, f"{len(names)} registered: "
                   + " ".join(f"/{n}" for n in names))
