"""Who may call: the API key a request carries, what it may reach, how often.

The gateway's handlers ask a :class:`Gatekeeper` to admit each request before anything
else. It answers with a :class:`Grant` (the key's name, recorded on every ledger record,
and its route scope) or raises :class:`~gateway.errors.Unauthorized` /
:class:`~gateway.errors.RateLimited`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.errors import Forbidden

__all__ = ["LOCAL_KEY", "Gatekeeper", "Grant"]

LOCAL_KEY = "local"  # the key name of traffic to a gateway that has no keys yet


@dataclass(frozen=True, slots=True)
class Grant:
    key_name: str
    routes: frozenset[str] | None = None  # None: every route

    def check(self, routes: Collection[str], model: str) -> None:
        """Raise :class:`Forbidden` unless ``model`` (running on ``routes``) is in scope."""
        if self.routes is None or any(route in self.routes for route in routes):
            return
        raise Forbidden(f"key {self.key_name!r} may not use {model!r}; its routes: "
                        f"{', '.join(sorted(self.routes))}", param="model")


class Gatekeeper(Protocol):
    async def admit(self, headers: Mapping[str, str]) -> Grant:
        """The grant of the key in ``Authorization: Bearer …`` or ``x-api-key``."""
        ...
