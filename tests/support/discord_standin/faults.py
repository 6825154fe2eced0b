"""Faults on demand: REST routes that fail for a while, and raw gateway payloads.

    standin.fail_rest("PUT /applications/*/guilds/*/commands", status=400, code=50035,
                      message="Invalid Form Body")               # until cleared
    standin.fail_rest("POST /webhooks/*", status=500, seconds=2.0)    # for 2 s
    standin.fail_rest("PATCH /webhooks/*", reset=True, count=3)      # drop the connection
    standin.fail_rest("PUT /applications/*", status=200, body=[{"name": "x"}])  # malformed

A rule matches like :meth:`StandinDiscord.rate_limit_next` (a glob over the path after
``/api/v10``, optionally prefixed by the method) and applies to matching requests until its
``count`` is used up or its ``seconds`` have passed (neither: until ``clear``). Matched
requests never reach the handlers, so nothing is stored. Paths outside ``/api/v10`` (the
gateway's ``/ws`` and ``/ws-resume``) are matched as they are: ``"GET /ws*"`` refuses the
gateway handshake, ``"*"`` takes all of Discord down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import json_response
from .payloads import JSON, member_payload, user_payload
from .ratelimits import route_matches
from .snowflake import iso_now
from .world import ChannelRef, UserRef

if TYPE_CHECKING:
    from .state import StandinState

__all__ = ["FaultRule", "Faults", "message_with_role_objects"]


@dataclass
class FaultRule:
    pattern: str
    status: int = 500
    code: int = 0
    message: str = "500: Internal Server Error"
    body: Any = None  # answered as JSON instead of Discord's error body
    reset: bool = False  # drop the connection without an answer
    remaining: int | None = None
    until: float | None = None
    hits: int = 0

    def live(self, now: float) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.until is None or now < self.until

    def respond(self, request: web.Request) -> web.StreamResponse:
        if self.reset:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        body = self.body if self.body is not None else {"message": self.message,
                                                        "code": self.code}
        return json_response(body, status=self.status)


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        now = time.monotonic()
        for rule in self.rules:
            if rule.live(now) and route_matches(rule.pattern, method, path):
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.hits += 1
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()


def message_with_role_objects(state: StandinState, channel: ChannelRef, author: UserRef,
                              content: str) -> JSON:
    """A MESSAGE_CREATE body whose member ``roles`` are role objects instead of ids (what a
    non-conforming server sent): discord.py's parser raises ``TypeError`` on it."""
    world = state.world
    user = world.user(author)
    member = member_payload(user, with_user=False)
    member["roles"] = [{"id": str(world.guild_id), "name": "@everyone"}]
    return {
        "id": str(state.ids.next()), "channel_id": str(world.channel(channel).id),
        "guild_id": str(world.guild_id), "author": user_payload(user), "member": member,
        "content": content, "timestamp": iso_now(), "edited_timestamp": None, "tts": False,
        "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
        "embeds": [], "components": [], "pinned": False, "type": 0, "flags": 0,
    }
