"""Load ``homecrew.yaml`` (+ ``.env``) into one typed settings object.

Lookup order of the file: ``--config PATH``, then ``$HOMECREW_CONFIG``, then
``./homecrew.yaml``. String values may use ``${VAR}`` and ``${VAR:-default}``; variables
come from the process environment, then from a ``.env`` file beside the config file or in
the working directory (the environment wins). ``$$`` is a literal dollar sign.

Every problem raises :class:`inference.errors.ConfigError` naming the file and the key path;
values of secret-looking keys are never echoed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError

from inference.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "interpolate",
    "load_environment",
    "load_model",
    "parse_model",
    "resolve_config_path",
]

DEFAULT_CONFIG_NAME = "homecrew.yaml"
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
_SECRETISH = re.compile(r"key|token|secret|password|url|header|env|mcp_servers",
                        re.IGNORECASE)
M = TypeVar("M", bound=BaseModel)


def resolve_config_path(explicit: Path | None, environ: Mapping[str, str]) -> Path:
    if explicit is not None:
        candidate, origin = explicit, "--config"
    elif environ.get("HOMECREW_CONFIG"):
        candidate, origin = Path(environ["HOMECREW_CONFIG"]), "$HOMECREW_CONFIG"
    else:
        candidate, origin = Path(DEFAULT_CONFIG_NAME), "default"
    if not candidate.is_file():
        hint = (
            "no homecrew.yaml in this directory; pass --config PATH or set HOMECREW_CONFIG "
            "(deploy/homecrew.example.yaml is a starting point)"
            if origin == "default"
            else f"config file not found (from {origin})"
        )
        raise ConfigError(hint, path=str(candidate))
    return candidate


def load_environment(config_path: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The process environment over the first ``.env`` found beside the config or in cwd."""
    merged: dict[str, str] = {}
    places = [Path(".env")]
    if config_path is not None:
        places.insert(0, config_path.parent / ".env")
    for dotenv in places:
        if dotenv.is_file():
            merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
            break
    merged.update(environ)
    return merged


def interpolate(node: object, env: Mapping[str, str], *, source: str, key: str = "") -> object:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(node, str):
        return _VAR.sub(lambda m: _substitute(m, env), node)
    if isinstance(node, dict):
        return {k: interpolate(v, env, source=source, key=_join(key, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, source=source, key=f"{key}[{i}]") for i, v in enumerate(node)]
    return node


def _substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match.group(0) == "$$":
        return "$"
    name, default = match.group(1), match.group(2)
    value = env.get(name, "")
    return value if value or default is None else default


def _join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def parse_model(model: type[M], data: object, *, source: str) -> M:
    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping of sections at the top level", path=source)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), path=source) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        ).lstrip(".")
        message = error["msg"].removeprefix("Value error, ")
        shown = "" if _SECRETISH.search(loc) or not loc else f" (got {error.get('input')!r})"
        if error["type"] == "extra_forbidden":
            message = "unknown key"
            shown = ""
        lines.append(f"{loc}: {message}{shown}" if loc else message)
    return "; ".join(lines)


def load_model(
    model: type[M], path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> M:
    """Find, read, interpolate and validate the config file into ``model``."""
    base_env = dict(os.environ if environ is None else environ)
    config_path = resolve_config_path(path, base_env)
    env = load_environment(config_path, base_env)
    source = str(config_path)
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}invalid YAML: {problem}", path=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=source) from None
    data = interpolate(raw if raw is not None else {}, env, source=source)
    if isinstance(data, dict) and "data_dir" not in data:
        data["data_dir"] = env.get("HOMECREW_DATA_DIR") or "~/.local/share/homecrew"
    return parse_model(model, data, source=source)
