"""Inference nodes: the chain's circuit breakers, Ollama's API (through the official client)
and the mlx_daemon's /health."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from inference.config import InferenceSettings, NodeConfig
from inference.health import CircuitState, HealthBoard, NodeHealth
from inference.ollama_admin import OLLAMA_ERRORS, OllamaAdmin, describe_ollama_error
from watch.checks._base import describe_http_error, ms, timed
from watch.results import CheckResult, Status
from watch.settings import MlxDaemonCheckSettings, NodeCheckSettings

__all__ = ["MlxDaemonCheck", "NodeBoardCheck", "OllamaCheck", "node_subject"]


def node_subject(node: str) -> str:
    return f"node:{node}"


class NodeBoardCheck:
    """Up/down, probe latency and circuit state of every node, read from the health board."""

    name = "nodes"
    subject = "nodes"
    failure_status = Status.WARN

    def __init__(
        self, board: HealthBoard, settings: InferenceSettings, config: NodeCheckSettings
    ) -> None:
        self._board = board
        self._settings = settings
        self._config = config
        self.timeout_s = config.timeout_s

    async def run(self) -> Sequence[CheckResult]:
        snapshot = self._board.snapshot()
        return [self._judge(health) for _, health in sorted(snapshot.items())]

    def _judge(self, health: NodeHealth) -> CheckResult:
        node = health.name
        cloud = node in self._settings.nodes and self._settings.nodes[node].is_cloud
        numbers: dict[str, float] = {"consecutive_failures": float(health.consecutive_failures)}
        if health.probe_latency_s is not None:
            numbers["probe_latency_s"] = health.probe_latency_s
        if health.state is CircuitState.OPEN:
            status = Status.WARN if cloud else Status.CRITICAL
            why = health.last_error or health.probe_detail or "circuit open"
            message = f"{node} down: {why}"
        elif health.state is CircuitState.HALF_OPEN:
            status, message = Status.WARN, f"{node} recovering (circuit half-open)"
        elif self._slow(health):
            status = Status.WARN
            message = f"{node} slow: probe took {ms(health.probe_latency_s)}"
        else:
            status = Status.OK
            probe = f", probe {ms(health.probe_latency_s)}" if health.probe_latency_s else ""
            message = f"{node} up{probe}"
        return CheckResult(self.name, f"node/{node}", status, message, node_subject(node),
                           health.probe_latency_s, numbers)

    def _slow(self, health: NodeHealth) -> bool:
        limit = self._config.probe_latency_warn_s
        latency = health.probe_latency_s
        return limit is not None and latency is not None and latency > limit


class OllamaCheck:
    """One Ollama node through the official client: version, models loaded (``ps``) and
    pulled (``list``); a configured model that is not pulled is a warning naming it."""

    failure_status = Status.CRITICAL

    def __init__(self, node: str, config: NodeConfig, wanted: Sequence[str],
                 timeout_s: float) -> None:
        self.name = f"ollama/{node}"
        self.subject = node_subject(node)
        self.timeout_s = timeout_s
        self._node = node
        self._wanted = list(wanted)
        self._admin = OllamaAdmin(config, timeout_s=timeout_s)

    async def aclose(self) -> None:
        await self._admin.aclose()

    async def run(self) -> Sequence[CheckResult]:
        elapsed = timed()
        try:
            state = await self._admin.state()
        except OLLAMA_ERRORS as exc:
            words = describe_ollama_error(exc)
            if words == "malformed answer":
                return [self._result(Status.WARN, f"{self._node} (Ollama): {words}",
                                     elapsed(), {})]
            return [self._result(Status.CRITICAL, f"{self._node} (Ollama) unreachable: "
                                 f"{words}", None, {})]
        vram = sum(m.vram_bytes for m in state.loaded)
        numbers = {"models_loaded": float(len(state.loaded)), "vram_bytes": float(vram),
                   "models_pulled": float(len(state.pulled))}
        message = (f"{self._node}: Ollama {state.version}, {len(state.loaded)} model(s) "
                   f"loaded, {len(state.pulled)} pulled")
        missing = state.missing(self._wanted)
        if missing:
            return [self._result(Status.WARN, f"{message}; not pulled: {', '.join(missing)} "
                                 f"(ollama pull {' '.join(missing)})", elapsed(), numbers)]
        return [self._result(Status.OK, message, elapsed(), numbers)]

    def _result(self, status: Status, message: str, latency: float | None,
                numbers: dict[str, float]) -> CheckResult:
        return CheckResult(self.name, self.name, status, message, self.subject, latency, numbers)


class MlxDaemonCheck:
    """The mlx_daemon's ``/health``: worker alive, models loaded, memory, queue depth."""

    name = "mlx_daemon"
    failure_status = Status.CRITICAL

    def __init__(self, config: MlxDaemonCheckSettings, client: httpx.AsyncClient) -> None:
        assert config.url is not None
        self._url = config.url
        self._config = config
        self._client = client
        self.timeout_s = config.timeout_s
        self.subject = node_subject(config.node) if config.node else "mlx_daemon"

    async def run(self) -> Sequence[CheckResult]:
        elapsed = timed()
        try:
            response = await self._client.get(self._url)
            body = response.json()
        except httpx.HTTPError as exc:
            return [self._result(Status.CRITICAL, f"mlx_daemon unreachable: "
                                 f"{describe_http_error(exc)}", None, {})]
        except ValueError:
            return [self._result(Status.WARN, "mlx_daemon: malformed /health answer",
                                 elapsed(), {})]
        if not isinstance(body, dict):
            return [self._result(Status.WARN, "mlx_daemon: malformed /health answer",
                                 elapsed(), {})]
        return [self._judge(response.status_code, body, elapsed())]

    def _judge(self, code: int, body: dict[str, Any], latency: float) -> CheckResult:
        models, memory, queue = (_section(body, k) for k in ("models", "memory", "queue"))
        loaded = [name for name, m in models.items() if isinstance(m, dict) and m.get("loaded")]
        used, budget = _num(memory.get("used_bytes")), _num(memory.get("budget_bytes"))
        queued, size = _num(queue.get("queued")), _num(queue.get("queue_size"))
        numbers = {"models_loaded": float(len(loaded)), "memory_used_bytes": used,
                   "memory_budget_bytes": budget, "queue_queued": queued,
                   "queue_active": _num(queue.get("active"))}
        errors = [f"{name}: {m['last_error']}" for name, m in models.items()
                  if isinstance(m, dict) and m.get("last_error")]
        problems: list[tuple[Status, str]] = []
        if code >= 500 or body.get("worker_alive") is False:
            problems.append((Status.CRITICAL, "mlx_daemon worker not alive"))
        if budget and used / budget > self._config.memory_warn_fraction:
            problems.append((Status.WARN, f"mlx_daemon memory at {used / budget:.0%} of budget"))
        if size and queued / size > self._config.queue_warn_fraction:
            problems.append((Status.WARN, f"mlx_daemon queue {queued:g} of {size:g}"))
        if errors:
            problems.append((Status.WARN, "model errors: " + "; ".join(errors)))
        if not problems:
            ready = "" if body.get("ready", True) else " (preloading)"
            message = f"mlx_daemon ok{ready}: {len(loaded)} model(s) loaded"
            return self._result(Status.OK, message, latency, numbers)
        status = max(s for s, _ in problems)
        return self._result(status, "; ".join(m for _, m in problems), latency, numbers)

    def _result(self, status: Status, message: str, latency: float | None,
                numbers: dict[str, float]) -> CheckResult:
        return CheckResult(self.name, self.name, status, message, self.subject, latency, numbers)


def _section(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
