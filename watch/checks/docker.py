"""Docker containers through the Docker Engine API on its unix socket.

``GET /containers/json?all=1`` lists them; ``GET /containers/{id}/json`` gives state, health
and restart count. A watched container that is missing, stopped, restarting or unhealthy is
critical; a paused or still-starting one, or one that restarted since the last sweep, warns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from watch.checks._base import describe_http_error, grade, ms, timed
from watch.results import Breach, CheckResult, Status
from watch.settings import DockerCheckSettings

__all__ = ["DockerCheck", "container_subject"]

_DOWN = {"exited", "dead", "removing", "restarting"}
_ODD = {"paused", "created"}


def container_subject(name: str) -> str:
    return f"container:{name}"


class DockerCheck:
    name = "docker"
    subject = "docker"
    failure_status = Status.CRITICAL

    def __init__(self, config: DockerCheckSettings) -> None:
        self._config = config
        self.timeout_s = config.timeout_s
        prefix = f"/v{config.api_version}" if config.api_version else ""
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(config.socket)),
            base_url=f"http://localhost{prefix}", timeout=config.timeout_s,
        )
        self._restarts: dict[str, int] = {}

    async def run(self) -> Sequence[CheckResult]:
        elapsed = timed()
        try:
            listing = await self._get("/containers/json", params={"all": "1"})
            if not isinstance(listing, list):
                raise ValueError("container list is not a list")
            names = {_name(c): c for c in listing if isinstance(c, dict)}
            wanted = list(self._config.containers) or sorted(names)
            found = [n for n in wanted if n in names]
            inspected = await asyncio.gather(
                *(self._get(f"/containers/{names[n]['Id']}/json") for n in found))
        except httpx.HTTPError as exc:
            return [self._summary(Status.CRITICAL,
                                  f"Docker engine unreachable: {describe_http_error(exc)}")]
        except (ValueError, KeyError, TypeError) as exc:
            return [self._summary(Status.WARN, f"Docker engine: malformed answer ({exc})")]
        latency = elapsed()
        details = dict(zip(found, inspected, strict=True))
        results = [self._judge(n, details.get(n)) for n in wanted]
        running = sum(1 for d in inspected if _state(d).get("Running"))
        summary = self._summary(Status.OK, f"Docker: {len(names)} container(s), "
                                f"{running} watched running, engine {ms(latency)}")
        return [summary, *results]

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = await self._client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _summary(self, status: Status, message: str) -> CheckResult:
        return CheckResult(self.name, self.name, status, message, self.subject)

    def _judge(self, name: str, info: Any) -> CheckResult:
        key, subject = f"docker/{name}", container_subject(name)
        if not isinstance(info, dict):
            return CheckResult(self.name, key, Status.CRITICAL,
                               f"container {name} not found", subject)
        state = _state(info)
        status_text = str(state.get("Status", "unknown"))
        health = state.get("Health") if isinstance(state.get("Health"), dict) else None
        health_text = str(health.get("Status")) if health else None
        restarts = int(info.get("RestartCount") or 0)
        previous = self._restarts.get(name, restarts)
        self._restarts[name] = restarts
        problems: list[tuple[Status, str]] = []
        breaches: list[Breach] = []
        if status_text in _DOWN:
            code = state.get("ExitCode")
            problems.append((Status.CRITICAL, f"container {name} {status_text}"
                             + (f" (exit code {code})" if status_text == "exited" else "")))
        elif status_text in _ODD:
            problems.append((Status.WARN, f"container {name} {status_text}"))
        if health_text == "unhealthy":
            streak = health.get("FailingStreak", 0) if health else 0
            problems.append((Status.CRITICAL, f"container {name} unhealthy "
                             f"({streak} failed health check(s) in a row)"))
        elif health_text == "starting":
            problems.append((Status.WARN, f"container {name} health check still starting"))
        if restarts > previous:
            problems.append((Status.WARN, f"container {name} restarted "
                             f"{restarts - previous} time(s) since the last sweep"))
        limit = self._config.max_restarts
        g = grade("restart count", float(restarts), warn=None if limit is None else float(limit),
                  where=name)
        if g.breach is not None:
            breaches.append(g.breach)
            problems.append((g.status, f"container {name} restarted {restarts} time(s)"))
        numbers = {"restart_count": float(restarts), "running": float(bool(state.get("Running")))}
        if not problems:
            health_note = f", {health_text}" if health_text else ""
            return CheckResult(self.name, key, Status.OK, f"{name} {status_text}{health_note}",
                               subject, None, numbers)
        return CheckResult(self.name, key, max(s for s, _ in problems),
                           "; ".join(m for _, m in problems), subject, None, numbers,
                           tuple(breaches))

    async def aclose(self) -> None:
        await self._client.aclose()


def _name(container: dict[str, Any]) -> str:
    names = container.get("Names") or []
    if isinstance(names, list) and names:
        return str(names[0]).lstrip("/")
    return str(container.get("Id", "?"))[:12]


def _state(info: Any) -> dict[str, Any]:
    state = info.get("State") if isinstance(info, dict) else None
    return state if isinstance(state, dict) else {}
