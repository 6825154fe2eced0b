"""Persona tool grants: ``tools: [server | server.tool, ...]`` in a persona file.

A server name grants every tool of that server, ``server.tool`` grants one. A grant ending
in ``?`` is optional: it applies when the server is configured and is otherwise skipped
silently (Gonzo's ``db?``). Any other grant naming a server that is not configured is
skipped and reported by :func:`unconfigured_grants` (a ``homecrew doctor`` warning).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from personas.schema import Persona, Roster
from team.tools.model import ToolSpec

__all__ = ["Grant", "granted", "granted_servers", "parse_grant", "unconfigured_grants"]


@dataclass(frozen=True, slots=True)
class Grant:
    server: str
    tool: str | None = None
    optional: bool = False

    def covers(self, spec: ToolSpec) -> bool:
        return spec.server == self.server and self.tool in (None, spec.tool)

    def __str__(self) -> str:
        return self.server + (f".{self.tool}" if self.tool else "") + ("?" if self.optional
                                                                          else "")


def parse_grant(text: str) -> Grant:
    optional = text.endswith("?")
    server, _, tool = text.removesuffix("?").partition(".")
    return Grant(server, tool or None, optional)


def _grants(persona: Persona) -> list[Grant]:
    return [parse_grant(g) for g in persona.tools]


def granted_servers(personas: Iterable[Persona]) -> frozenset[str]:
    """The servers the ``personas``' grants name (what must run for them to have tools)."""
    return frozenset(grant.server for persona in personas for grant in _grants(persona))


def granted(persona: Persona, available: Iterable[ToolSpec]) -> tuple[ToolSpec, ...]:
    """The tools among ``available`` that ``persona`` may call, in listing order."""
    grants = _grants(persona)
    return tuple(s for s in available if any(g.covers(s) for g in grants))


def unconfigured_grants(roster: Roster, servers: Collection[str]) -> list[tuple[str, Grant]]:
    """``(agent, grant)`` for every non-optional grant naming a server not in ``servers``."""
    return [(p.name, g) for p in roster for g in _grants(p)
            if not g.optional and g.server not in servers]
