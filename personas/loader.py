"""Read the persona files and the rules policy, and check them against each other.

Every ``*.yaml`` in the personas directory is one agent, except the policy file
(``rules.yaml``). The packaged defaults are the six agents of the seed; a directory given
in the settings replaces them (copy the defaults there to start). Every problem raises
:class:`inference.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from inference.errors import ConfigError
from personas.policy import Policy
from personas.schema import Persona, Roster

__all__ = [
    "POLICY_FILE",
    "default_personas_dir",
    "load_persona",
    "load_policy",
    "load_roster",
]

POLICY_FILE = "rules.yaml"
M = TypeVar("M", bound=BaseModel)


def default_personas_dir() -> Path:
    """The directory of the packaged persona files and policy."""
    return Path(str(resources.files("personas")))


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=str(path)) from None


def _validate(model: type[M], data: Any, path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or None
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{first['msg']}{more}", path=str(path), key=key) from None


def load_persona(path: Path) -> Persona:
    persona = _validate(Persona, _read_yaml(path), path)
    if persona.name != path.stem:
        raise ConfigError(f"the file of agent {persona.name!r} must be named "
                          f"{persona.name}.yaml", path=str(path), key="name")
    return persona


def load_roster(directory: Path | None = None) -> Roster:
    """Every persona file of ``directory`` (default: the packaged team), in roster order."""
    folder = (directory or default_personas_dir()).expanduser()
    if not folder.is_dir():
        raise ConfigError("personas directory not found", path=str(folder))
    files = sorted(p for p in folder.glob("*.yaml") if p.name != POLICY_FILE)
    if not files:
        raise ConfigError("no persona files (*.yaml)", path=str(folder))
    personas = sorted((load_persona(p) for p in files), key=lambda p: (p.order, p.name))
    return _validate(Roster, {"personas": personas}, folder)


def load_policy(path: Path | None = None, roster: Roster | None = None) -> Policy:
    """The rules policy (default: the packaged ``rules.yaml``), checked against ``roster``."""
    file = (path or default_personas_dir() / POLICY_FILE).expanduser()
    policy = _validate(Policy, _read_yaml(file), file)
    if roster is not None:
        unknown = sorted(policy.agents_named() - set(roster.names))
        if unknown:
            raise ConfigError(f"names agents not on the team: {', '.join(unknown)}",
                              path=str(file))
        divisions = {p.division for p in roster}
        missing = sorted(set(policy.halt.freeze_divisions) - divisions)
        if missing:
            raise ConfigError(f"no agent in division(s) {', '.join(missing)}",
                              path=str(file), key="halt.freeze_divisions")
    return policy
