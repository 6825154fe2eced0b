"""Typed settings of the inference chain: nodes, models, routes, timeouts, cache, ledger.

These models describe the ``nodes``/``models``/``routes``/``timeouts``/``cache``/``ledger``/
``health`` sections of ``homecrew.yaml``. Reading the file (YAML, ``${VAR:-default}``
interpolation, ``.env``) is the application's job (``homecrew.config``); this module only
validates and answers questions about the stack.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

__all__ = [
    "BudgetConfig",
    "BudgetLimits",
    "CacheConfig",
    "HealthConfig",
    "HedgeAfter",
    "InferenceSettings",
    "LedgerConfig",
    "ModelConfig",
    "NodeClient",
    "NodeConfig",
    "NodeKind",
    "NodeTls",
    "Price",
    "RouteHedging",
    "RouteTimeouts",
    "StepTimeouts",
    "TimeZoneName",
    "TimeoutOverrides",
    "Timeouts",
    "mask_url_password",
]

NodeKind = Literal["openai", "ollama", "anthropic"]
NodeClient = Literal["auto", "litellm", "native"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _empty_to_none(value: object) -> object:
    return None if value == "" else value


def mask_url_password(url: str) -> str:
    """``url`` with the password of its user info (``user:PASSWORD@``) replaced by ``***``."""
    head, sep, rest = url.partition("://")
    userinfo, at, host = rest.partition("@")
    if not (sep and at and ":" in userinfo and "/" not in userinfo):
        return url
    return f"{head}://{userinfo.split(':', 1)[0]}:***@{host}"


def _check_port(url: str) -> None:
    try:
        urlsplit(url).port  # noqa: B018 (parsing it is the check)
    except ValueError as exc:
        reason = "port out of range 0-65535" if "out of range" in str(exc) else str(exc)
        raise ValueError(f"not a usable URL: {reason}") from None


def _check_redis_url(url: str | None) -> str | None:
    if url is not None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://…, rediss://…, unix://… or empty")
        _check_port(url)
    return url


def _check_http_url(url: str) -> None:
    """An http(s) URL with a host and a valid port (the URL itself is never echoed: it may
    carry credentials)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        reason = "port out of range 0-65535" if "out of range" in str(exc) else str(exc)
        raise ValueError(f"not a usable URL: {reason}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must be an http(s) URL (scheme {parts.scheme or 'missing'!r})")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. http://localhost:11434")
    if port == 0:
        raise ValueError("port 0 is not a port a node can listen on")


class NodeTls(_Section):
    """TLS to one node (an ``https://`` ``base_url``), e.g. a homelab's self-signed CA."""

    ca_file: Path | None = Field(
        default=None, description="PEM file of the CA (or self-signed certificate) that "
        "signed the node's certificate; trusted instead of the system's CAs",
    )
    verify: bool = Field(default=True, description="false: no certificate check at all")

    @field_validator("ca_file", mode="before")
    @classmethod
    def _blank_file(cls, value: object) -> object:
        return _empty_to_none(value)

    @field_validator("ca_file")
    @classmethod
    def _readable_pem(cls, path: Path | None) -> Path | None:
        if path is None:
            return None
        path = path.expanduser()
        if not path.is_file():
            raise ValueError(f"no such file: {str(path)!r}")
        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError):
            raise ValueError(f"not a readable PEM certificate file: {str(path)!r}") from None
        return path


class NodeConfig(_Section):
    kind: NodeKind
    base_url: str | None = None
    api_key: SecretStr | None = None
    cloud: bool | None = Field(
        default=None, description="billed cloud API; default: true for anthropic, else false"
    )
    probe: bool | None = Field(
        default=None, description="background health probe; default: on for local nodes"
    )
    client: NodeClient = Field(
        default="auto",
        description="who speaks to the node: 'litellm' (the embedded Router), 'native' "
        "(homecrew's own OpenAI-compatible / Ollama client) or 'auto' (native for local "
        "openai/ollama nodes, LiteLLM for cloud ones)",
    )
    tls: NodeTls | None = Field(
        default=None, description="TLS settings of an https:// node the native client "
        "speaks to: ca_file to trust, verify",
    )

    _blank = field_validator("base_url", "api_key", mode="before")(_empty_to_none)

    @field_validator("base_url")
    @classmethod
    def _usable_url(cls, url: str | None) -> str | None:
        if url is not None:
            _check_http_url(url)
        return url

    @model_validator(mode="after")
    def _needs_url(self) -> NodeConfig:
        if self.kind in ("openai", "ollama") and not self.base_url:
            raise ValueError(f"a node of kind {self.kind!r} needs base_url")
        if self.client == "native" and self.kind == "anthropic":
            raise ValueError("client 'native' speaks the openai and ollama protocols only")
        if self.tls is not None and not self._native:
            raise ValueError("tls applies to nodes spoken to natively (local openai/ollama "
                             "nodes, or client: native)")
        return self

    @property
    def shown_url(self) -> str | None:
        """``base_url`` fit to print: a password inside it is masked."""
        return None if self.base_url is None else mask_url_password(self.base_url)

    @property
    def _native(self) -> bool:
        if self.client == "auto":
            return not self.is_cloud and self.kind != "anthropic"
        return self.client == "native"

    @property
    def is_cloud(self) -> bool:
        return self.cloud if self.cloud is not None else self.kind == "anthropic"

    @property
    def probed(self) -> bool:
        return self.probe if self.probe is not None else not self.is_cloud


class Price(_Section):
    """USD per million tokens; overrides LiteLLM's price map."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class TimeoutOverrides(_Section):
    connect: float | None = Field(default=None, gt=0)
    first_token: float | None = Field(default=None, gt=0)
    total: float | None = Field(default=None, gt=0)


class ModelConfig(_Section):
    node: str
    model: str
    price: Price | None = None
    context_window: int | None = Field(default=None, gt=0)
    timeouts: TimeoutOverrides | None = None
    embedding: bool = Field(
        default=False,
        description="an embedding model (Ollama /api/embed, OpenAI-compatible /embeddings): "
        "it serves embedding routes only, never chat; a route is all embedding models or "
        "none. Spoken to by the native client, so its node is of kind ollama or openai "
        "and not client: litellm",
    )


class StepTimeouts(_Section):
    """Resolved timeouts of one step, in seconds.

    ``first_token`` decides fail-over (nothing reaches the caller before the first token);
    ``total`` caps a step that has not produced its first token *and* a non-streamed reply;
    a streamed reply that keeps producing tokens is cut only when no token arrives for
    ``first_token`` seconds.
    """

    connect: float
    first_token: float
    total: float


def _hedge_after(value: object) -> object:
    """``hedge_after``: seconds (> 0), ``auto`` or ``off`` (YAML reads a bare off as false)."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return "off"
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0
        if seconds > 0:
            return seconds
    raise ValueError("expected seconds (a number > 0), 'auto' or 'off'")


HedgeAfter = Annotated[float | Literal["auto", "off"], BeforeValidator(_hedge_after)]
"""When to start the next step beside a local step that has no first token yet."""


class RouteTimeouts(TimeoutOverrides):
    """``timeouts.routes.<route>``: the route's timeouts and its hedging (``None``: global)."""

    hedge_after: HedgeAfter | None = None
    hedge_cloud: bool | None = None


@dataclass(frozen=True, slots=True)
class RouteHedging:
    """Resolved hedging of one route: ``after`` is seconds, ``"auto"`` or ``None`` (off)."""

    after: float | Literal["auto"] | None
    cloud: bool


class Timeouts(_Section):
    connect: float = Field(default=2.0, gt=0)
    first_token: float = Field(default=10.0, gt=0)
    total: float = Field(default=30.0, gt=0)
    hedge_after: HedgeAfter = Field(
        default="auto",
        description="start the next local step beside a local step with no first token "
        "after this: seconds, 'auto' (2x the model's learned p95 time to first token, at "
        "least 1 s) or 'off'",
    )
    hedge_cloud: bool = Field(default=False, description="a cloud step may be hedged into")
    routes: dict[str, RouteTimeouts] = Field(default_factory=dict)


class CacheConfig(_Section):
    ttl: int = Field(default=600, ge=0)
    redis_url: str | None = None
    max_entries: int = Field(default=2048, gt=0, description="in-process cache size")
    max_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0,
        description="in-process cache bound in (approximate) bytes; least recently used "
        "replies go first, and a reply larger than this is not cached",
    )

    _blank = field_validator("redis_url", mode="before")(_empty_to_none)
    _redis_scheme = field_validator("redis_url")(_check_redis_url)


class LedgerConfig(_Section):
    database_url: str | None = None
    reference_model: str = Field(
        default="claude-sonnet",
        description="model alias (or LiteLLM model name) whose price values local tokens",
    )
    batch_size: int = Field(default=200, gt=0)
    flush_interval: float = Field(default=0.5, gt=0)
    buffer_size: int = Field(default=10_000, gt=0, description=(
        "records held in memory while the local outbox cannot be written"))
    outbox_path: Path | None = Field(default=None, description=(
        "the local outbox every record is written to first; "
        "default: <data_dir>/ledger-outbox.sqlite3"))
    spill_path: Path | None = Field(default=None, description=(
        "the JSON-lines spill file of earlier versions, imported into the outbox once; "
        "default: <data_dir>/ledger.spill.jsonl"))

    _blank = field_validator("database_url", "outbox_path", "spill_path", mode="before")(
        _empty_to_none)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgres://", "postgresql://", "sqlite:///")):
            raise ValueError("expected postgresql://…, sqlite:///path or empty")
        if url is not None:
            _check_port(url)
        return url


class HealthConfig(_Section):
    failure_threshold: int = Field(default=3, ge=1, description="consecutive failures to open")
    cooldown: float = Field(default=15.0, gt=0, description="open -> half-open trial after")
    cooldown_max: float = Field(
        default=120.0, gt=0,
        description="each failed half-open trial doubles the cool-down, up to this",
    )
    probe_interval: float = Field(default=15.0, gt=0)
    probe_interval_open: float = Field(default=3.0, gt=0, description="while a node is down")
    probe_timeout: float = Field(default=2.0, gt=0)
    shared_redis_url: str | None = Field(
        default=None,
        description="Redis through which replicas share node health: a node one replica "
        "finds down is skipped by the others. Empty: health is this process's own. "
        "`homecrew serve` defaults it to gateway.redis_url (itself defaulting to "
        "cache.redis_url)",
    )
    shared_prefix: str = Field(
        default="homecrew", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="namespace of the shared-health channel and keys; replicas that "
        "share health use the same one",
    )
    shared_ttl: float = Field(
        default=10.0, gt=0,
        description="seconds a replica's 'node down' report holds if not renewed "
        "(renewed every third of it while the node stays down there)",
    )

    _blank = field_validator("shared_redis_url", mode="before")(_empty_to_none)
    _redis_scheme = field_validator("shared_redis_url")(_check_redis_url)


class BudgetLimits(_Section):
    daily_usd: float | None = Field(default=None, ge=0)
    monthly_usd: float | None = Field(default=None, ge=0)


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name such as ``Europe/Berlin``, checked at load time."""


class BudgetConfig(_Section):
    """Cloud spend limits; past one, cloud steps are skipped (local steps never are)."""

    team: BudgetLimits = BudgetLimits()
    agents: dict[str, BudgetLimits] = Field(default_factory=dict)
    warn_at: float = Field(default=0.8, gt=0, lt=1)
    timezone: TimeZoneName = "UTC"


class InferenceSettings(_Section):
    nodes: dict[str, NodeConfig]
    models: dict[str, ModelConfig]
    routes: dict[str, list[str]]
    timeouts: Timeouts = Timeouts()
    cache: CacheConfig = CacheConfig()
    ledger: LedgerConfig = LedgerConfig()
    health: HealthConfig = HealthConfig()
    budgets: BudgetConfig = BudgetConfig()
    data_dir: Path = Path("~/.local/share/homecrew")

    @model_validator(mode="after")
    def _references(self) -> InferenceSettings:
        problems = list(self._reference_problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _reference_problems(self) -> list[str]:
        problems = [
            f"models.{alias}.node: unknown node {m.node!r} (nodes: {', '.join(self.nodes)})"
            for alias, m in self.models.items()
            if m.node not in self.nodes
        ]
        for route, steps in self.routes.items():
            if not steps:
                problems.append(f"routes.{route}: a route needs at least one model alias")
            problems.extend(
                f"routes.{route}[{i}]: unknown model alias {alias!r} "
                f"(models: {', '.join(self.models)})"
                for i, alias in enumerate(steps)
                if alias not in self.models
            )
        problems.extend(
            f"timeouts.routes.{route}: unknown route" for route in self.timeouts.routes
            if route not in self.routes
        )
        problems.extend(self._embedding_problems())
        return problems

    def _embedding_problems(self) -> list[str]:
        """Embedding models: on a node the native client embeds with, in routes of their own."""
        problems = []
        for alias, model in self.models.items():
            node = self.nodes.get(model.node)
            if not model.embedding or node is None:
                continue
            if node.kind == "anthropic":
                problems.append(f"models.{alias}.embedding: node {model.node!r} is of kind "
                                "anthropic, which has no embeddings API")
            elif node.client == "litellm":
                problems.append(f"models.{alias}.embedding: node {model.node!r} has client: "
                                "litellm; embeddings go through the native client (client: "
                                "auto or native)")
        for route, steps in self.routes.items():
            known = [alias for alias in steps if alias in self.models]
            embedding = [alias for alias in known if self.models[alias].embedding]
            if embedding and len(embedding) != len(known):
                chat = [alias for alias in known if alias not in embedding]
                problems.append(
                    f"routes.{route}: mixes embedding models ({', '.join(embedding)}) with "
                    f"chat models ({', '.join(chat)}); a route is all one or the other")
        return problems

    def is_embedding_route(self, route: str) -> bool:
        """Whether ``route``'s steps are embedding models (``embedding: true``)."""
        steps = self.routes.get(route, ())
        return bool(steps) and all(self.models[alias].embedding for alias in steps)

    def routes_of_kind(self, *, embedding: bool) -> list[str]:
        """The embedding routes (``embedding=True``) or the chat routes, in config order."""
        return [r for r in self.routes if self.is_embedding_route(r) == embedding]

    def step_timeouts(self, route: str, alias: str) -> StepTimeouts:
        """Global timeouts, overridden by the route's, overridden by the model's."""
        merged = {
            "connect": self.timeouts.connect,
            "first_token": self.timeouts.first_token,
            "total": self.timeouts.total,
        }
        route_layer = self.timeouts.routes.get(route)
        if route_layer is not None:
            merged.update(route_layer.model_dump(
                exclude_none=True, include={"connect", "first_token", "total"}))
        model_layer = self.models[alias].timeouts
        if model_layer is not None:
            merged.update(model_layer.model_dump(exclude_none=True))
        return StepTimeouts(**merged)

    def route_hedging(self, route: str) -> RouteHedging:
        """The route's hedging: ``timeouts.routes.<route>`` over the global ``timeouts``."""
        layer = self.timeouts.routes.get(route)
        after = self.timeouts.hedge_after
        cloud = self.timeouts.hedge_cloud
        if layer is not None:
            after = layer.hedge_after if layer.hedge_after is not None else after
            cloud = layer.hedge_cloud if layer.hedge_cloud is not None else cloud
        return RouteHedging(None if after == "off" else after, cloud)

    def node_of(self, alias: str) -> NodeConfig:
        return self.nodes[self.models[alias].node]

    def routes_using_node(self, node: str) -> list[str]:
        return [r for r, steps in self.routes.items() if any(
            self.models[a].node == node for a in steps)]
