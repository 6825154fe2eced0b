"""Load ``homecrew.yaml`` (+ ``.env``) into one typed settings object.

Lookup order of the file: ``--config PATH``, then ``$HOMECREW_CONFIG``, then
``./homecrew.yaml``. String values may use ``${VAR}`` and ``${VAR:-default}``; variables
come from the process environment, then from a ``.env`` file beside the config file or in
the working directory (the environment wins). ``$$`` is a literal dollar sign.

A ``${VAR}`` without a default whose variable is set nowhere is an error (``${VAR:-}``
means "empty unless set").

Every problem raises :class:`inference.errors.ConfigError` naming the file and the key path.
No secret is ever echoed: an offending value is shown only when it is a plain scalar under
a key that is not secret-looking, and every message is finally scrubbed of the values of
secret-looking keys and variables and of passwords inside URLs (:func:`redact`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

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
    "redact",
    "resolve_config_path",
    "secret_values",
]

DEFAULT_CONFIG_NAME = "homecrew.yaml"
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
_SECRETISH = re.compile(r"key|token|secret|password|url|header|env|mcp_servers",
                        re.IGNORECASE)
_SECRET_NAME = re.compile(r"key|token|secret|passw|credential|auth", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")
_MIN_SECRET_LEN = 6
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
            merged.update(_read_dotenv(dotenv))
            break
    merged.update(environ)
    return merged


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        text = raw.splitlines()[line - 1].decode("utf-8", "replace")
        name = text.split("=", 1)[0].removeprefix("export ").strip() if "=" in text else ""
        where = f"{name} (line {line})" if name else f"line {line}"
        raise ConfigError(f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                          path=str(path)) from None
    return {k: v for k, v in dotenv_values(path, encoding="utf-8").items() if v is not None}


def interpolate(node: object, env: Mapping[str, str], *, source: str, key: str = "") -> object:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree.

    A ``${VAR}`` without a default whose variable is not set raises :class:`ConfigError`
    naming ``source`` and the key path (set but empty is fine: it stays empty).
    """
    if isinstance(node, str):
        return _VAR.sub(lambda m: _substitute(m, env, source=source, key=key), node)
    if isinstance(node, dict):
        return {k: interpolate(v, env, source=source, key=_join(key, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, source=source, key=f"{key}[{i}]") for i, v in enumerate(node)]
    return node


def _substitute(match: re.Match[str], env: Mapping[str, str], *, source: str, key: str) -> str:
    if match.group(0) == "$$":
        return "$"
    name, default = match.group(1), match.group(2)
    if default is None and name not in env:
        raise ConfigError(
            f"${{{name}}} is not set (in the environment or .env); set it, or write "
            f"${{{name}:-}} to default to empty", path=source, key=key or None,
        )
    value = env.get(name, "")
    return value if value or default is None else default


def secret_values(env: Mapping[str, str], tree: object = None) -> frozenset[str]:
    """Values that must never be shown: those of secret-looking variables (``*_KEY``,
    ``*TOKEN*``, ``*PASSWORD*``…) and config keys, and passwords inside URLs anywhere."""
    found: set[str] = set()
    for name, value in env.items():
        if _SECRET_NAME.search(name):
            found.add(value)
        found.update(_url_passwords(value))
    _collect(tree, "", found)
    return frozenset(v for v in found if len(v) >= _MIN_SECRET_LEN)


def _collect(node: object, key: str, found: set[str]) -> None:
    if isinstance(node, Mapping):
        for k, v in node.items():
            _collect(v, str(k), found)
    elif isinstance(node, list):
        for v in node:
            _collect(v, key, found)
    elif isinstance(node, str) and "${" not in node:  # a reference is not a secret
        if _SECRET_NAME.search(key):
            found.add(node)
        found.update(_url_passwords(node))


def _url_passwords(text: str) -> list[str]:
    if "://" not in text:
        return []
    try:
        password = urlsplit(text.strip()).password
    except ValueError:
        password = None
    return [password] if password else []


def redact(text: str, secrets: frozenset[str] = frozenset()) -> str:
    """``text`` with every value of ``secrets`` and every password inside a URL masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return _URL_PASSWORD.sub(r"\g<head>[redacted]@", text)


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
        value = error.get("input")
        plain = isinstance(value, str | int | float | bool) or value is None
        shown = "" if _SECRETISH.search(loc) or not loc or not plain else f" (got {value!r})"
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
    raw = _read_yaml(config_path)
    secrets = secret_values(env, raw)
    try:
        data = interpolate(raw if raw is not None else {}, env, source=source)
    except ConfigError as exc:
        raise _redacted(exc, secrets) from None
    secrets |= secret_values({}, data)
    if isinstance(data, dict) and "data_dir" not in data:
        data["data_dir"] = env.get("HOMECREW_DATA_DIR") or "~/.local/share/homecrew"
    try:
        return parse_model(model, data, source=source)
    except ConfigError as exc:
        raise _redacted(exc, secrets) from None


def _redacted(exc: ConfigError, secrets: frozenset[str]) -> ConfigError:
    clean = ConfigError(redact(str(exc), secrets))
    clean.path, clean.key = exc.path, exc.key
    return clean


def _read_yaml(config_path: Path) -> object:
    source = str(config_path)
    try:
        raw_bytes = config_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=source) from None
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(_not_utf8(raw_bytes, exc), path=source) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}invalid YAML: {problem}", path=source) from None


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    """Where the first undecodable byte is: its key path when the rest parses, else its line."""
    line = raw.count(b"\n", 0, exc.start) + 1
    what = f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8"
    try:
        tree = yaml.safe_load(raw.decode("utf-8", "replace"))
    except yaml.YAMLError:
        return what
    key = _first_key_with(tree, "\ufffd", "")
    return f"{key}: {what}" if key else what


def _first_key_with(node: object, needle: str, key: str) -> str | None:
    if isinstance(node, Mapping):
        for k, v in node.items():
            path = _join(key, k)
            if needle in str(k):
                return path
            found = _first_key_with(v, needle, path)
            if found:
                return found
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found = _first_key_with(v, needle, f"{key}[{i}]")
            if found:
                return found
    elif isinstance(node, str) and needle in node:
        return key or "(top level)"
    return None
