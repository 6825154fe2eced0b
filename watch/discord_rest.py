"""A small Discord REST poster for the CLI (``homecrew report spend --post``).

It finds the channel by name (``GET /guilds/{guild}/channels``) and sends the message as an
embed, with attachments as multipart files (``POST /channels/{id}/messages``). The token is
sent as ``Authorization: Bot …`` and never appears in errors or logs. The bot itself posts
through discord.py; :func:`embed_payload` is the shared ChiefMessage → embed mapping
(``discord.Embed.from_dict(embed_payload(m))``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiohttp

from watch.messages import ChiefMessage
from watch.poster import PostError

__all__ = ["DEFAULT_API_BASE", "DiscordRestPoster", "embed_payload", "message_payload"]

DEFAULT_API_BASE = "https://discord.com/api/v10"
TEXT_CHANNEL = 0
_LIMITS = {"title": 256, "description": 4096, "field_name": 256, "field_value": 1024,
           "footer": 2048, "fields": 25, "total": 6000}
_MAX_RETRY_AFTER = 10.0
_DESCRIPTION_RESERVE = 500  # fields stop short of the 6000-character total to leave this


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed_payload(message: ChiefMessage) -> dict[str, Any]:
    """The Discord embed for ``message`` (within Discord's size limits)."""
    title = _cut(message.title, _LIMITS["title"])
    footer = _cut(message.footer, _LIMITS["footer"])
    used = len(title) + len(footer)
    fields = []
    for field in message.fields[: _LIMITS["fields"]]:
        name = _cut(field.name, _LIMITS["field_name"]) or "-"
        value = _cut(field.value, _LIMITS["field_value"]) or "-"
        if used + len(name) + len(value) > _LIMITS["total"] - _DESCRIPTION_RESERVE:
            break
        used += len(name) + len(value)
        fields.append({"name": name, "value": value, "inline": field.inline})
    room = max(1, min(_LIMITS["description"], _LIMITS["total"] - used))
    embed: dict[str, Any] = {"title": title, "description": _cut(message.body, room),
                             "color": message.color, "fields": fields}
    if footer:
        embed["footer"] = {"text": footer}
    if message.timestamp is not None:
        embed["timestamp"] = datetime.fromtimestamp(message.timestamp, UTC).isoformat()
    if message.image:
        embed["image"] = {"url": f"attachment://{message.image}"}
    return embed


def message_payload(message: ChiefMessage, role_id: int | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /channels/{id}/messages`` (mentions only the given role)."""
    payload: dict[str, Any] = {"embeds": [embed_payload(message)],
                               "allowed_mentions": {"parse": []}}
    if message.mention_role and role_id is not None:
        payload["content"] = f"<@&{role_id}>"
        payload["allowed_mentions"] = {"parse": [], "roles": [str(role_id)]}
    if message.attachments:
        payload["attachments"] = [{"id": i, "filename": a.filename}
                                  for i, a in enumerate(message.attachments)]
    return payload


class DiscordRestPoster:
    """A :class:`~watch.poster.Poster` over Discord's REST API (use ``async with``)."""

    def __init__(
        self,
        token: str,
        guild_id: int,
        *,
        api_base: str = DEFAULT_API_BASE,
        role_name: str | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self._headers = {"Authorization": f"Bot {token}",
                         "User-Agent": "DiscordBot (homecrew, 0.1) watch"}
        self._guild = guild_id
        self._base = api_base.rstrip("/")
        self._role_name = role_name
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._channels: dict[str, int] | None = None
        self._role: int | None = None

    async def __aenter__(self) -> DiscordRestPoster:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, channel_name: str, message: ChiefMessage) -> None:
        channel = await self.channel_id(channel_name)
        role = await self._role_id() if message.mention_role else None
        payload = message_payload(message, role)
        path = f"/channels/{channel}/messages"
        if not message.attachments:
            await self._request("POST", path, json_body=payload)
            return
        form = aiohttp.FormData()
        form.add_field("payload_json", json.dumps(payload), content_type="application/json")
        for index, attachment in enumerate(message.attachments):
            form.add_field(f"files[{index}]", attachment.data, filename=attachment.filename,
                           content_type=attachment.content_type)
        await self._request("POST", path, form=form)

    async def channel_id(self, name: str) -> int:
        wanted = name.lstrip("#")
        if self._channels is None or wanted not in self._channels:
            listing = await self._request("GET", f"/guilds/{self._guild}/channels")
            self._channels = {str(c["name"]): int(c["id"]) for c in listing
                              if isinstance(c, dict) and c.get("type") == TEXT_CHANNEL}
        if wanted not in self._channels:
            raise PostError(f"no text channel #{wanted} in guild {self._guild}")
        return self._channels[wanted]

    async def _role_id(self) -> int | None:
        if self._role_name is None:
            return None
        if self._role is None:
            roles = await self._request("GET", f"/guilds/{self._guild}/roles")
            self._role = next((int(r["id"]) for r in roles
                               if isinstance(r, dict) and r.get("name") == self._role_name),
                              None)
        return self._role

    async def _request(self, method: str, path: str, *, json_body: Any = None,
                       form: aiohttp.FormData | None = None, retried: bool = False) -> Any:
        if self._session is None:
            raise RuntimeError("use DiscordRestPoster inside 'async with'")
        try:
            async with self._session.request(
                method, self._base + path, headers=self._headers, json=json_body, data=form,
            ) as response:
                body = await _body(response)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PostError(f"Discord unreachable ({type(exc).__name__}) on {method} "
                            f"{path}") from None
        if status == 429 and not retried and form is None:
            wait = float(body.get("retry_after", 1.0)) if isinstance(body, dict) else 1.0
            await asyncio.sleep(min(wait, _MAX_RETRY_AFTER))
            return await self._request(method, path, json_body=json_body, retried=True)
        if status >= 400:
            detail = body.get("message") if isinstance(body, dict) else None
            raise PostError(f"Discord answered HTTP {status} to {method} {path}"
                            + (f": {detail}" if detail else ""))
        return body


async def _body(response: aiohttp.ClientResponse) -> Any:
    if response.status == 204:
        return None
    try:
        return await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None
