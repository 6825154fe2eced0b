"""What a request's ``model`` names: a route, a model alias, or an agent.

* a **route** (``smart-agent``): the whole chain, step by step;
* a **model alias** (``ollama-qwen``): that one step alone (the chain runs an alias as a
  one-step route);
* an **agent** (``nellie``): her route, with her persona's system prompt put first.

Names are unique across the three kinds: a name used twice (a route and an agent called
``nellie``, an alias and a route called ``fast`` with other steps) is a configuration
error when the gateway starts (:class:`~inference.errors.ConfigError` naming both), never
a silent preference. The one exception means the same thing twice: a route whose one step
is the alias of its own name (``fast: [fast]``, as ``homecrew import-litellm`` writes for a
model with no fall-backs) is listed once, as the route.

Embedding routes and models (``models.<alias>.embedding: true``) are named the same way
but answer ``POST /v1/embeddings`` only, and chat names answer chat only: ``resolve``
takes the kind of call and lists the valid names of that kind when a name is not one.
An agent's route must be a chat route.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from gateway.errors import ModelNotFound
from inference.config import InferenceSettings
from inference.errors import ConfigError

__all__ = ["AgentEntry", "Catalog", "Kind", "Target"]

Kind = Literal["route", "model", "agent"]


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """An agent the gateway offers: her ``route`` and her persona's ``system_prompt``
    (built by the composition root the way the team engine builds it)."""

    name: str
    route: str
    system_prompt: str


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved ``model`` name. ``route`` is what the chain runs (a route's name, or a
    model alias: that one step); ``routes`` the configured routes it belongs to (what a
    key's route scope is checked against); ``owned_by`` the ``/v1/models`` owner."""

    name: str
    kind: Kind
    route: str
    routes: tuple[str, ...]
    owned_by: str
    agent: str | None = None
    system_prompt: str | None = None
    embedding: bool = False  # an embedding route or model: /v1/embeddings, not chat


class Catalog:
    """Every ``model`` name the gateway answers to, resolved once at start-up."""

    def __init__(self, settings: InferenceSettings, agents: Iterable[AgentEntry] = ()) -> None:
        targets: list[Target] = [
            Target(route, "route", route, (route,), "homecrew",
                   embedding=settings.is_embedding_route(route))
            for route in settings.routes]
        targets += [
            Target(alias, "model", alias, _routes_using(settings, alias), model.node,
                   embedding=model.embedding)
            for alias, model in settings.models.items()]
        for agent in agents:
            if agent.route not in settings.routes:
                raise ConfigError(f"agent {agent.name!r} uses route {agent.route!r}, which "
                                  "is not defined", key="routes")
            if settings.is_embedding_route(agent.route):
                raise ConfigError(f"agent {agent.name!r} uses route {agent.route!r}, an "
                                  "embedding route: an agent needs a chat route",
                                  key="routes")
            targets.append(Target(agent.name, "agent", agent.route, (agent.route,),
                                  "homecrew", agent.name, agent.system_prompt))
        self._targets: dict[str, Target] = {}
        for target in targets:
            other = self._targets.get(target.name)
            if other is not None and _same_step(settings, other, target):
                # in scope for a key on any route the alias is a step of
                routes = tuple(dict.fromkeys((*other.routes, *target.routes)))
                self._targets[target.name] = replace(other, routes=routes)
                continue
            if other is not None:
                raise ConfigError(
                    f"the name {target.name!r} is both {_noun(other.kind)} and "
                    f"{_noun(target.kind)}: `model` would be ambiguous; rename one",
                    key="gateway")
            self._targets[target.name] = target

    def resolve(self, name: str, *, embedding: bool = False) -> Target:
        """The chat target (or, with ``embedding``, the embedding target) called ``name``;
        :class:`ModelNotFound` lists the valid names of that kind."""
        target = self._targets.get(name)
        if target is None or target.embedding != embedding:
            raise ModelNotFound(name, self.names(embedding=embedding))
        return target

    def names(self, *, embedding: bool = False) -> list[str]:
        """The chat names (or, with ``embedding``, the embedding names)."""
        return [name for name, target in self._targets.items()
                if target.embedding == embedding]

    def __iter__(self) -> Iterator[Target]:
        return iter(self._targets.values())

    def __len__(self) -> int:
        return len(self._targets)


def _routes_using(settings: InferenceSettings, alias: str) -> tuple[str, ...]:
    return tuple(route for route, steps in settings.routes.items() if alias in steps)


def _same_step(settings: InferenceSettings, route: Target, alias: Target) -> bool:
    """``route`` is a route whose only step is ``alias``, of the same name."""
    return (route.kind == "route" and alias.kind == "model"
            and list(settings.routes[route.name]) == [alias.name])


def _noun(kind: Kind) -> str:
    return {"route": "a route", "model": "a model alias", "agent": "an agent"}[kind]
