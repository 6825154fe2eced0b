"""Chief's checks, and building the configured set of them.

Each check is small, typed and bounded by a timeout; :func:`watch.results.run_checks` runs
them concurrently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from inference.config import InferenceSettings
from inference.health import HealthBoard
from inference.ledger import Ledger
from inference.ollama_admin import wanted_models
from watch.checks.docker import DockerCheck, container_subject
from watch.checks.host import HostCheck
from watch.checks.http import HttpEndpointCheck
from watch.checks.nodes import MlxDaemonCheck, NodeBoardCheck, OllamaCheck, node_subject
from watch.checks.prometheus import PrometheusCheck, PrometheusError, parse_query_answer
from watch.checks.services import LedgerBacklogCheck, PostgresCheck, RedisCheck
from watch.results import Check
from watch.settings import WatchSettings

__all__ = [
    "CheckSet",
    "DockerCheck",
    "HostCheck",
    "HttpEndpointCheck",
    "LedgerBacklogCheck",
    "MlxDaemonCheck",
    "NodeBoardCheck",
    "OllamaCheck",
    "PostgresCheck",
    "PrometheusCheck",
    "PrometheusError",
    "RedisCheck",
    "build_checks",
    "container_subject",
    "node_subject",
    "parse_query_answer",
]


@dataclass
class CheckSet:
    """The checks of one watch; ``aclose`` releases their connections."""

    checks: list[Check] = field(default_factory=list)

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    async def aclose(self) -> None:
        for check in self.checks:
            closer = getattr(check, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()


def build_checks(
    settings: InferenceSettings,
    watch: WatchSettings,
    client: httpx.AsyncClient,
    *,
    board: HealthBoard | None = None,
    ledger: Ledger | None = None,
) -> CheckSet:
    """The checks the configuration asks for (those whose target is known)."""
    cfg = watch.checks
    checks: list[Check] = []
    if cfg.nodes.enabled and board is not None:
        checks.append(NodeBoardCheck(board, settings, cfg.nodes))
    if cfg.nodes.enabled and cfg.nodes.ollama_details:
        checks.extend(
            OllamaCheck(name, node, wanted_models(settings, name), cfg.nodes.timeout_s)
            for name, node in settings.nodes.items()
            if node.kind == "ollama" and node.base_url
        )
    if cfg.mlx_daemon.url:
        checks.append(MlxDaemonCheck(cfg.mlx_daemon, client))
    redis_url = cfg.redis.url or settings.cache.redis_url
    if cfg.redis.enabled and redis_url:
        checks.append(RedisCheck(redis_url, cfg.redis))
    pg_url = cfg.postgres.url or _postgres_url(settings.ledger.database_url)
    if cfg.postgres.enabled and pg_url:
        checks.append(PostgresCheck(pg_url, cfg.postgres))
    if cfg.ledger.enabled and ledger is not None:
        checks.append(LedgerBacklogCheck(ledger, cfg.ledger))
    checks.extend(HttpEndpointCheck(endpoint, client) for endpoint in cfg.http)
    if cfg.docker.enabled:
        checks.append(DockerCheck(cfg.docker))
    if cfg.prometheus.url and cfg.prometheus.queries:
        checks.append(PrometheusCheck(cfg.prometheus, client))
    if cfg.host.enabled:
        checks.append(HostCheck(cfg.host))
    return CheckSet(checks)


def _postgres_url(url: str | None) -> str | None:
    return url if url and url.startswith(("postgres://", "postgresql://")) else None
