"""What an Ollama node has: its version, the models it has pulled and those loaded now.

Read through the official ``ollama`` client (``list``, ``ps``; ``/api/version``, which the
client has no method for, through the client's own request path), for the checks that
report on a node (Chief's ``watch`` checks, ``homecrew doctor``, ``homecrew status``).
The chat stream does not go through it: ``bench/ollama_client.py`` measured it at ~2× the
CPU per streamed reply of the native edge (README, "How a request flows").

The client is built on httpx and would read ``*_PROXY``, ``OLLAMA_HOST`` and
``OLLAMA_API_KEY`` from the environment and follow redirects; here it talks only to the
configured ``base_url``, with the node's own key (if any) and the node's TLS settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import ollama
import pydantic

from inference.config import InferenceSettings, NodeConfig
from inference.node_http import ssl_context
from inference.probes import describe_http_error

__all__ = ["OLLAMA_ERRORS", "OllamaAdmin", "OllamaState", "describe_ollama_error",
           "missing_models", "not_pulled", "wanted_models"]

# what a call of OllamaAdmin raises when the node fails it (described by describe_ollama_error)
OLLAMA_ERRORS: tuple[type[Exception], ...] = (ollama.ResponseError, httpx.HTTPError,
                                              ConnectionError, ValueError)


@dataclass(frozen=True, slots=True)
class LoadedModel:
    name: str
    vram_bytes: int


@dataclass(frozen=True, slots=True)
class OllamaState:
    version: str
    pulled: tuple[str, ...]
    loaded: tuple[LoadedModel, ...]

    def missing(self, wanted: Iterable[str]) -> list[str]:
        return missing_models(self.pulled, wanted)


class _Version(pydantic.BaseModel):
    version: str = "?"


class _Client(ollama.AsyncClient):
    async def version(self) -> str:
        """``GET /api/version`` (the client maps its errors as for ``list``/``ps``)."""
        response = await self._request_raw("GET", "/api/version")  # type: ignore[no-untyped-call]
        return _Version.model_validate_json(response.content).version


class OllamaAdmin:
    """The official client for one node; close it with :meth:`aclose` (or ``async with``)."""

    def __init__(self, node: NodeConfig, *, timeout_s: float) -> None:
        if node.kind != "ollama" or not node.base_url:
            raise ValueError("an ollama node with a base_url is needed")
        key = node.api_key.get_secret_value() if node.api_key else None

        async def only_the_nodes_key(request: httpx.Request) -> None:
            request.headers.pop("authorization", None)  # OLLAMA_API_KEY, if set
            if key:
                request.headers["authorization"] = f"Bearer {key}"

        self._client = _Client(
            host=node.base_url.rstrip("/"), timeout=timeout_s, trust_env=False,
            follow_redirects=False, verify=ssl_context(node.tls),
            event_hooks={"request": [only_the_nodes_key]},
        )

    async def __aenter__(self) -> OllamaAdmin:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.close()  # type: ignore[no-untyped-call]

    async def version(self) -> str:
        return await self._client.version()

    async def pulled(self) -> tuple[str, ...]:
        listed = await self._client.list()
        return tuple(m.model for m in listed.models if m.model)

    async def loaded(self) -> tuple[LoadedModel, ...]:
        running = await self._client.ps()
        return tuple(LoadedModel(m.model or m.name or "?", int(m.size_vram or 0))
                     for m in running.models)

    async def state(self) -> OllamaState:
        return OllamaState(await self.version(), await self.pulled(), await self.loaded())


async def not_pulled(settings: InferenceSettings, *, timeout_s: float
                     ) -> dict[str, list[str] | None]:
    """Per Ollama node, the configured models it has not pulled (``None``: it did not say)."""
    names = [name for name, node in settings.nodes.items()
             if node.kind == "ollama" and node.base_url]

    async def one(name: str) -> list[str] | None:
        try:
            async with OllamaAdmin(settings.nodes[name], timeout_s=timeout_s) as admin:
                return missing_models(await admin.pulled(), wanted_models(settings, name))
        except OLLAMA_ERRORS:
            return None  # the health probe says why

    found = await asyncio.gather(*(one(name) for name in names))
    return dict(zip(names, found, strict=True))


def wanted_models(settings: InferenceSettings, node: str) -> list[str]:
    """The upstream models the configuration serves from ``node``."""
    return sorted({m.model for m in settings.models.values() if m.node == node})


def missing_models(pulled: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """Those of ``wanted`` that are not among ``pulled`` (``name`` is ``name:latest``)."""
    have = set(pulled)
    return [name for name in wanted
            if name not in have and (":" in name or f"{name}:latest" not in have)]


def describe_ollama_error(exc: BaseException) -> str:
    """Short, secret-free words for a failure of the official client."""
    if isinstance(exc, ollama.ResponseError):
        return f"HTTP {exc.status_code}: {str(exc.error)[:200]}"
    if isinstance(exc, httpx.HTTPError):
        return describe_http_error(exc)
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, ConnectionError) and isinstance(cause, httpx.HTTPError):
        return describe_http_error(cause)  # the client's own words say only "check it runs"
    if isinstance(exc, pydantic.ValidationError | ValueError):
        return "malformed answer"
    return type(exc).__name__


