"""Who asks: an agent of the roster, or a person (admin when the settings say so)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from personas.schema import Roster

__all__ = ["Actor", "resolve_actor"]


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    kind: Literal["agent", "person"]
    admin: bool = False
    user_id: str | None = None

    @classmethod
    def agent(cls, name: str) -> Actor:
        return cls(name, "agent")

    @classmethod
    def person(cls, name: str, *, admin: bool = False, user_id: str | None = None) -> Actor:
        return cls(name, "person", admin, user_id)

    @property
    def label(self) -> str:
        """The name written into the audit log (people get an ``@`` prefix)."""
        return self.name if self.kind == "agent" else f"@{self.name}"


def resolve_actor(
    name: str,
    roster: Roster,
    admins: Iterable[str],
    *,
    user_id: str | None = None,
    admin_role: bool = False,
) -> Actor:
    """An agent when ``name`` is on the roster, else a person.

    A person is an admin when the bot says they hold the admin role, or when their name or
    id is listed in ``team.admins``. Agents are never admins.
    """
    cleaned = name.strip()
    if cleaned.lower() in roster:
        return Actor.agent(cleaned.lower())
    listed = set(admins)
    admin = admin_role or cleaned in listed or (user_id is not None and user_id in listed)
    return Actor.person(cleaned, admin=admin, user_id=user_id)
