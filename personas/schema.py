"""The persona file schema: one YAML file per agent, validated here.

A persona is data: who the agent is (name, title, division, motto, voice), what it knows
(specialty), what it may decide (authority), which tools it may call (``tools``), which
route of the inference chain answers for it, and the words Skip's keyword fallback uses to
hand it work. A :class:`Roster` is the validated set of personas: names unique, exactly
one orchestrator.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

__all__ = ["GRANT_PATTERN", "NAME_PATTERN", "Persona", "Roster"]

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
GRANT_PATTERN = r"^[a-z][a-z0-9_-]{0,31}(\.[A-Za-z0-9_][A-Za-z0-9_.-]*)?\??$"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Persona(_Frozen):
    """One agent, as written in ``personas/<name>.yaml``."""

    name: str = Field(pattern=NAME_PATTERN, description="the agent's id; also the file name")
    display_name: str = Field(default="", description="default: the name, capitalised")
    title: str = Field(min_length=1)
    division: str = Field(pattern=NAME_PATTERN, description="e.g. command, operations, production")
    motto: str = Field(min_length=1)
    summary: str = Field(min_length=1, description="what the agent does")
    voice: str = Field(min_length=1)
    specialty: str = Field(min_length=1)
    authority: str = Field(min_length=1)
    route: str = Field(min_length=1, description="the inference route that answers for it")
    route_note: str = Field(default="", description="the route's models, for the roster chart")
    channel: str = Field(default="", description="default Discord channel; default: the name")
    avatar_url: str | None = Field(default=None, description="webhook avatar for the bot")
    orchestrator: bool = Field(default=False, description="plans and delegates (Skip)")
    order: int = Field(default=100, description="position on the roster chart")
    keywords: tuple[str, ...] = Field(
        default=(), description="lower-case words that route work here when planning falls back"
    )
    prompt_extras: tuple[str, ...] = Field(default=(), description="extra system-prompt lines")
    tools: tuple[Annotated[str, StringConstraints(pattern=GRANT_PATTERN)], ...] = Field(
        default=(), description="tool grants: a server name (all its tools) or server.tool; "
        "a trailing ? makes the grant optional (no warning when the server is not configured)"
    )

    @field_validator("keywords")
    @classmethod
    def _lower_keywords(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(w.strip().lower() for w in words if w.strip())

    @field_validator("avatar_url")
    @classmethod
    def _http_avatar(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("avatar_url must be an http(s) URL")
        return url

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: object) -> object:
        if isinstance(data, Mapping) and isinstance(data.get("name"), str):
            data = dict(data)
            name: str = data["name"]
            data["display_name"] = data.get("display_name") or name.capitalize()
            data["channel"] = data.get("channel") or name
        return data

    @property
    def headline(self) -> str:
        """``Nellie — Research Specialist``."""
        return f"{self.display_name} — {self.title}"


class Roster(_Frozen):
    """The validated team: unique names and channels, exactly one orchestrator."""

    personas: tuple[Persona, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Roster:
        names = [p.name for p in self.personas]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate agent names: {', '.join(duplicates)}")
        channels = [p.channel for p in self.personas]
        clashing = sorted({c for c in channels if channels.count(c) > 1})
        if clashing:
            raise ValueError(f"two agents share a channel: {', '.join(clashing)}")
        leads = [p.name for p in self.personas if p.orchestrator]
        if len(leads) != 1:
            raise ValueError(f"exactly one orchestrator is needed, found {leads or 'none'}")
        return self

    def __iter__(self) -> Iterator[Persona]:  # type: ignore[override]
        return iter(self.personas)

    def __len__(self) -> int:
        return len(self.personas)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.personas)

    def get(self, name: str) -> Persona:
        """The persona called ``name`` (case-insensitive); KeyError names the known agents."""
        wanted = name.strip().lower()
        for persona in self.personas:
            if persona.name == wanted:
                return persona
        raise KeyError(f"unknown agent {name!r}; the team is {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.personas)

    @property
    def orchestrator(self) -> Persona:
        return next(p for p in self.personas if p.orchestrator)

    @property
    def specialists(self) -> tuple[Persona, ...]:
        return tuple(p for p in self.personas if not p.orchestrator)

    def by_division(self) -> Mapping[str, tuple[Persona, ...]]:
        divisions: dict[str, list[Persona]] = {}
        for persona in self.personas:
            divisions.setdefault(persona.division, []).append(persona)
        return {d: tuple(ps) for d, ps in divisions.items()}

    def in_divisions(self, divisions: tuple[str, ...]) -> frozenset[str]:
        return frozenset(p.name for p in self.personas if p.division in divisions)
