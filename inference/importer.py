"""Convert a LiteLLM proxy ``config.yaml`` into homecrew's format.

Reads ``model_list`` (``model_info.mode: embedding`` marks an embedding model),
``router_settings.fallbacks`` (or ``litellm_settings.fallbacks``),
``router_settings.timeout`` and ``litellm_settings.cache``/``cache_params``. Secrets are
never copied: ``os.environ/VAR`` becomes ``${VAR}``, a literal key becomes a ``${…}``
reference the user puts in ``.env``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from inference.errors import ConfigError

__all__ = ["ImportResult", "convert_litellm_config"]

_KINDS = {
    "openai": "openai", "hosted_vllm": "openai", "openai_like": "openai", "lm_studio": "openai",
    "llamafile": "openai", "moonshot": "openai", "ollama": "ollama", "ollama_chat": "ollama",
    "anthropic": "anthropic",
}
_DEFAULT_BASES = {"moonshot": "https://api.moonshot.ai/v1"}
_ENV_REF = re.compile(r"^os\.environ/([A-Za-z_][A-Za-z0-9_]*)$")


@dataclass
class ImportResult:
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _env_ref(value: object, fallback_var: str, notes: list[str], what: str) -> str | None:
    if value is None or value == "":
        return None
    match = _ENV_REF.match(str(value))
    if match:
        return f"${{{match.group(1)}}}"
    notes.append(f"{what}: a literal secret was not copied; put it in .env as {fallback_var}")
    return f"${{{fallback_var}}}"


def _node_name(provider: str, base: str | None, taken: dict[str, tuple[Any, ...]]) -> str:
    stem = provider if base is None else (urlsplit(base).hostname or provider).split(".")[0]
    stem = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-") or provider
    if provider in ("ollama", "ollama_chat", "anthropic") and base is None:
        stem = "ollama" if provider.startswith("ollama") else "anthropic"
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}-{n}", n + 1
    return name


def convert_litellm_config(data: object, *, source: str) -> ImportResult:
    if not isinstance(data, Mapping) or not isinstance(data.get("model_list"), list):
        raise ConfigError("not a LiteLLM proxy config: no model_list", path=source)
    notes: list[str] = []
    nodes: dict[str, dict[str, Any]] = {}
    node_keys: dict[str, tuple[Any, ...]] = {}
    models: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(data["model_list"]):
        alias, model = _convert_entry(
            entry, index, source, nodes=nodes, node_keys=node_keys, notes=notes
        )
        unique, n = alias, 2
        while unique in models:
            unique, n = f"{alias}-{n}", n + 1
        models[unique] = model
    routes = _routes(data, models, source)
    config: dict[str, Any] = {"nodes": nodes, "models": models, "routes": routes}
    config.update(_extras(data, notes))
    return ImportResult(config, notes)


def _convert_entry(
    entry: object, index: int, source: str, *, nodes: dict[str, dict[str, Any]],
    node_keys: dict[str, tuple[Any, ...]], notes: list[str],
) -> tuple[str, dict[str, Any]]:
    key = f"model_list[{index}]"
    if not isinstance(entry, Mapping) or not isinstance(entry.get("litellm_params"), Mapping):
        raise ConfigError("expected model_name and litellm_params", path=source, key=key)
    params = entry["litellm_params"]
    target = str(params.get("model", ""))
    provider, _, upstream = target.partition("/")
    if provider not in _KINDS or not upstream:
        raise ConfigError(
            f"unsupported model {target!r}; expected one of {', '.join(sorted(_KINDS))}/<model>",
            path=source, key=f"{key}.litellm_params.model",
        )
    base = params.get("api_base") or _DEFAULT_BASES.get(provider)
    api_key = _env_ref(params.get("api_key"), f"{provider.upper()}_API_KEY", notes, key)
    identity = (_KINDS[provider], base, api_key)
    name = next((n for n, ident in node_keys.items() if ident == identity), None)
    if name is None:
        name = _node_name(provider, base, node_keys)
        node_keys[name] = identity
        node: dict[str, Any] = {"kind": _KINDS[provider]}
        if base:
            node["base_url"] = str(base)
        if api_key:
            node["api_key"] = api_key
        if provider == "moonshot":
            node["cloud"] = True
        nodes[name] = node
    model: dict[str, Any] = {"node": name, "model": upstream}
    if params.get("timeout"):
        model["timeouts"] = {"total": float(params["timeout"])}
    info = entry.get("model_info")
    if isinstance(info, Mapping) and info.get("mode") == "embedding":
        model["embedding"] = True
    return str(entry.get("model_name") or upstream), model


def _routes(
    data: Mapping[str, Any], models: Mapping[str, Any], source: str
) -> dict[str, list[str]]:
    fallbacks: list[Any] = []
    for section in ("router_settings", "litellm_settings"):
        value = (data.get(section) or {}).get("fallbacks") or []
        fallbacks.extend(value if isinstance(value, list) else [])
    routes: dict[str, list[str]] = {}
    for i, item in enumerate(fallbacks):
        if not isinstance(item, Mapping):
            raise ConfigError("expected {model: [fallbacks]}", path=source,
                              key=f"router_settings.fallbacks[{i}]")
        for primary, backups in item.items():
            chain = [str(primary), *(str(b) for b in backups or [])]
            missing = [m for m in chain if m not in models]
            if missing:
                raise ConfigError(f"unknown model_name {missing[0]!r}", path=source,
                                  key=f"router_settings.fallbacks[{i}].{primary}")
            routes[str(primary)] = chain
    in_chains = {m for chain in routes.values() for m in chain}
    for alias in models:
        if alias not in in_chains:
            routes[alias] = [alias]
    return routes


def _extras(data: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    router = data.get("router_settings") or {}
    settings = data.get("litellm_settings") or {}
    timeout = router.get("timeout") or settings.get("request_timeout")
    if timeout:
        out["timeouts"] = {"total": float(timeout)}
    cache_params = settings.get("cache_params") or {}
    if settings.get("cache"):
        cache: dict[str, Any] = {"ttl": int(cache_params.get("ttl", 600))}
        if cache_params.get("type", "redis") == "redis":
            host = cache_params.get("host", "localhost")
            port = cache_params.get("port", 6379)
            host_ref = _ENV_REF.match(str(host))
            host_text = f"${{{host_ref.group(1)}}}" if host_ref else host
            auth = ":${REDIS_PASSWORD}@" if cache_params.get("password") else ""
            if auth:
                notes.append("cache: the Redis password was not copied; set REDIS_PASSWORD")
            cache["redis_url"] = f"redis://{auth}{host_text}:{port}"
        out["cache"] = cache
    database = (data.get("general_settings") or {}).get("database_url")
    if database:
        out["ledger"] = {"database_url": _env_ref(database, "DATABASE_URL", notes,
                                                  "general_settings.database_url")}
    return out
