"""Background health probes: one loop per local node, feeding the :class:`HealthBoard`.

OpenAI-compatible nodes: ``GET {base_url}/models``; Ollama: ``GET /api/version`` and
``GET /api/ps``. Cloud nodes are judged by request outcomes only. A node whose circuit is
not closed is probed every ``probe_interval_open`` seconds so that recovery is noticed
quickly, and a circuit that opens between probes wakes its node's loop at once (the
board's per-node event), so a node that died is seen failing its probes right away.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from inference.config import HealthConfig, NodeConfig
from inference.health import CircuitState, HealthBoard
from inference.node_http import NodeHttp, describe_client_error, describe_tls, tls_failure

__all__ = ["STALL_S", "ProbeResult", "Prober", "describe_http_error"]

STALL_S = 0.25  # a probe timeout firing this much (or half the timeout) late: a stalled loop


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    latency_s: float | None
    detail: str


_STALLED = ProbeResult(False, None, "the event loop was stalled")  # internal: probe again
_TIMED_OUT = ProbeResult(False, None, "no answer (this process's event loop was stalled)")


class Prober:
    def __init__(
        self,
        nodes: Mapping[str, NodeConfig],
        board: HealthBoard,
        config: HealthConfig,
        http: NodeHttp,
    ) -> None:
        self._nodes = {name: node for name, node in nodes.items() if node.probed}
        self._board = board
        self._config = config
        self._http = http

    @property
    def probed_nodes(self) -> list[str]:
        return list(self._nodes)

    async def probe(self, name: str) -> ProbeResult:
        """One probe of ``name``. A timeout that fired well after its deadline means this
        process's event loop was stalled (a blocking import at start-up, say), which says
        nothing about the node: such a probe is run once more instead of being counted."""
        result = await self._probe_once(self._nodes[name])
        if result is _STALLED:
            result = await self._probe_once(self._nodes[name])
        return _TIMED_OUT if result is _STALLED else result

    async def _probe_once(self, node: NodeConfig) -> ProbeResult:
        timeout = self._config.probe_timeout
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                detail = await self._check(node)
        except TimeoutError:
            late = time.perf_counter() - started - timeout
            return _STALLED if late > max(STALL_S, timeout / 2) else ProbeResult(
                False, None, f"no answer within {timeout:g}s")
        except _HttpStatus as exc:
            return ProbeResult(False, None, f"HTTP {exc.status}")
        except (aiohttp.ClientError, OSError) as exc:
            return ProbeResult(False, None, describe_client_error(exc))
        except ValueError:
            return ProbeResult(False, None, "malformed answer")
        return ProbeResult(True, time.perf_counter() - started, detail)

    async def probe_all(self, names: Iterable[str] | None = None) -> dict[str, ProbeResult]:
        """Probe every node (or ``names``) once, concurrently, and record the results."""
        chosen = self._chosen(names)
        results = await asyncio.gather(*(self.probe(n) for n in chosen))
        for name, result in zip(chosen, results, strict=True):
            self._board.record_probe(name, result.ok, result.latency_s, result.detail)
        return dict(zip(chosen, results, strict=True))

    async def run(
        self, *, first_probe_after_interval: bool = False, names: Iterable[str] | None = None
    ) -> None:
        """Probe every node (or the probed ones among ``names``) forever (cancel to stop).

        Each node's loop rests ``probe_interval`` while its circuit is closed,
        ``probe_interval_open`` otherwise, and wakes at once when a request failure opens
        the circuit. ``first_probe_after_interval`` skips the immediate first round, for
        callers that have just run :meth:`probe_all`.
        """
        async with asyncio.TaskGroup() as group:
            for name in self._chosen(names):
                group.create_task(self._loop(name, first_probe_after_interval),
                                  name=f"probe-{name}")

    def _chosen(self, names: Iterable[str] | None) -> list[str]:
        if names is None:
            return list(self._nodes)
        wanted = set(names)
        return [name for name in self._nodes if name in wanted]

    async def _loop(self, name: str, wait_first: bool) -> None:
        if wait_first:
            await self._rest(name)
        while True:
            result = await self.probe(name)
            self._board.record_probe(name, result.ok, result.latency_s, result.detail)
            await self._rest(name)

    async def _rest(self, name: str) -> None:
        """Sleep the node's interval, or less: a circuit that opens wakes its probe."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._interval(name)):
                await self._board.wait_opened(name)

    def _interval(self, name: str) -> float:
        closed = self._board.get(name).state is CircuitState.CLOSED
        return self._config.probe_interval if closed else self._config.probe_interval_open

    async def _check(self, node: NodeConfig) -> str:
        assert node.base_url is not None
        base = node.base_url.rstrip("/")
        headers = {}
        if node.api_key is not None:
            headers["Authorization"] = f"Bearer {node.api_key.get_secret_value()}"
        if node.kind == "ollama":
            version = (await self._get(node, f"{base}/api/version", headers)).get("version", "?")
            loaded = (await self._get(node, f"{base}/api/ps", headers)).get("models") or []
            return f"ollama {version}, {len(loaded)} model(s) loaded"
        models = (await self._get(node, f"{base}/models", headers)).get("data") or []
        return f"{len(models)} model(s) listed"

    async def _get(self, node: NodeConfig, url: str, headers: Mapping[str, str]
                   ) -> dict[str, Any]:
        async with self._http.session.get(url, headers=dict(headers),
                                          ssl=self._http.ssl_for(node)) as response:
            if response.status >= 400:
                raise _HttpStatus(response.status)
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise ValueError(f"unexpected answer from {url}")
        return body


class _HttpStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def describe_http_error(exc: httpx.HTTPError) -> str:
    """A short, secret-free description of an httpx failure (TLS failures named as such)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    tls = tls_failure(exc)
    if tls is not None:
        return describe_tls(tls)
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__
