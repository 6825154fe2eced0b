"""429s on demand, and the rate-limit headers discord.py reads on every answer."""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from .errors import json_response

__all__ = ["Limited", "RateLimitRule", "RateLimiter", "WindowLimit"]

_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_METHOD = re.compile(r"^(GET|POST|PUT|PATCH|DELETE)\s+", re.IGNORECASE)
_IDS = re.compile(r"/\d{5,}")
_MAJOR = re.compile(r"/(?:channels|webhooks|guilds|interactions)/(\d+)")
API_PREFIX = "/api/v10"


def route_matches(route: str, method: str, path: str) -> bool:
    """`route` is a glob over the path after /api/v10, optionally prefixed by the method."""
    pattern = _PLACEHOLDER.sub("*", route.strip())
    method_match = _METHOD.match(pattern)
    if method_match is not None:
        wanted = method_match.group(1).upper()
        target = pattern[method_match.end():].removeprefix(API_PREFIX)
        return wanted == method.upper() and fnmatch.fnmatchcase(path, target)
    return fnmatch.fnmatchcase(path, pattern.removeprefix(API_PREFIX))


@dataclass(frozen=True)
class Limited:
    retry_after: float
    is_global: bool


@dataclass
class RateLimitRule:
    """Answer the next `remaining` requests matching `pattern` with a 429."""

    pattern: str
    retry_after: float
    is_global: bool
    remaining: int
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return route_matches(self.pattern, method, path)


@dataclass
class WindowLimit:
    """Discord-like bucket: at most `limit` matching requests per `per` s per major resource."""

    pattern: str
    limit: int
    per: float
    hits: int = 0
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, method: str, path: str) -> float | None:
        """Count the request; return how long to wait if it is over the limit."""
        if not route_matches(self.pattern, method, path):
            return None
        major = _MAJOR.search(path)
        history = self._seen.setdefault(major.group(1) if major else "", deque())
        now = time.monotonic()
        while history and now - history[0] >= self.per:
            history.popleft()
        if len(history) >= self.limit:
            self.hits += 1
            return max(0.001, self.per - (now - history[0]))
        history.append(now)
        return None


class RateLimiter:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.rules: list[RateLimitRule] = []
        self.windows: list[WindowLimit] = []

    def add(self, pattern: str, retry_after: float, is_global: bool, count: int) -> RateLimitRule:
        rule = RateLimitRule(pattern, retry_after, is_global, count)
        self.rules.append(rule)
        return rule

    def add_window(self, pattern: str, limit: int, per: float) -> WindowLimit:
        window = WindowLimit(pattern, limit, per)
        self.windows.append(window)
        return window

    def take(self, method: str, path: str) -> Limited | None:
        for rule in self.rules:
            if rule.remaining > 0 and rule.matches(method, path):
                rule.remaining -= 1
                rule.hits += 1
                return Limited(rule.retry_after, rule.is_global)
        for window in self.windows:
            wait = window.check(method, path)
            if wait is not None:
                return Limited(round(wait, 3), False)
        return None

    @staticmethod
    def bucket(method: str, path: str) -> str:
        template = _IDS.sub("/:id", path)
        return hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:20]

    def ok_headers(self, method: str, path: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self._limit),
            "X-RateLimit-Remaining": str(self._limit - 1),
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": self.bucket(method, path),
        }

    def limited_response(self, rule: Limited, method: str, path: str) -> web.Response:
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, math.ceil(rule.retry_after))),
            "X-RateLimit-Limit": str(self._limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + rule.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{rule.retry_after:.3f}",
            "X-RateLimit-Bucket": self.bucket(method, path),
            "X-RateLimit-Scope": "global" if rule.is_global else "user",
        }
        if rule.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": rule.retry_after,
            "global": rule.is_global,
        }
        return json_response(body, status=429, headers=headers)
