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
from typing import Any

from aiohttp import web

from .errors import json_response
from .ratelimits import route_matches

__all__ = ["FaultRule", "Faults"]


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
