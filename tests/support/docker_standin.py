"""A Docker Engine API stand-in on a unix socket, for Chief's Docker check.

It follows the Engine API's shapes for ``GET /_ping``, ``GET /version``,
``GET /containers/json[?all=1]`` and ``GET /containers/{id or name}/json`` (unversioned or
``/v1.xx/``-prefixed). Tests change ``containers`` between sweeps, and ``mode`` to make it
answer malformed JSON, a wrong shape, a server error, or hang::

    async with DockerStandin(tmp_path / "docker.sock", [StandinContainer("redis")]) as docker:
        docker.containers["redis"].state = "exited"
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

__all__ = ["DockerMode", "DockerStandin", "StandinContainer"]

DockerMode = Literal["ok", "malformed", "wrong_shape", "error", "hang"]
_VERSIONED = re.compile(r"^/v\d+\.\d+(/.*)$")
_STARTED = "2026-11-25T08:00:00.000000000Z"


def _new_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


@dataclass
class StandinContainer:
    name: str
    state: str = "running"  # created | running | paused | restarting | exited | dead
    health: str | None = None  # None (no health check) | starting | healthy | unhealthy
    restart_count: int = 0
    exit_code: int = 0
    failing_streak: int = 0
    image: str = "redis:7-alpine"
    id: str = field(default_factory=_new_id)

    def summary(self) -> dict[str, Any]:
        """One entry of ``GET /containers/json``."""
        if self.state == "running":
            status = "Up 2 hours" + (f" ({self.health})" if self.health else "")
        elif self.state == "exited":
            status = f"Exited ({self.exit_code}) 3 minutes ago"
        else:
            status = self.state.capitalize()
        return {
            "Id": self.id, "Names": [f"/{self.name}"], "Image": self.image,
            "ImageID": f"sha256:{self.id}", "Command": "docker-entrypoint.sh",
            "Created": 1764057600, "Ports": [], "Labels": {}, "State": self.state,
            "Status": status, "HostConfig": {"NetworkMode": "bridge"},
            "NetworkSettings": {"Networks": {}}, "Mounts": [],
        }

    def inspect(self) -> dict[str, Any]:
        """``GET /containers/{id}/json``."""
        state: dict[str, Any] = {
            "Status": self.state, "Running": self.state in ("running", "paused"),
            "Paused": self.state == "paused", "Restarting": self.state == "restarting",
            "OOMKilled": False, "Dead": self.state == "dead",
            "Pid": 4242 if self.state == "running" else 0, "ExitCode": self.exit_code,
            "Error": "", "StartedAt": _STARTED, "FinishedAt": "0001-01-01T00:00:00Z",
        }
        if self.health is not None:
            state["Health"] = {"Status": self.health, "FailingStreak": self.failing_streak,
                               "Log": []}
        return {
            "Id": self.id, "Created": _STARTED, "Path": "docker-entrypoint.sh", "Args": [],
            "State": state, "Image": f"sha256:{self.id}", "Name": f"/{self.name}",
            "RestartCount": self.restart_count, "Driver": "overlay2", "Platform": "linux",
            "Config": {"Image": self.image, "Labels": {}},
        }


class DockerStandin:
    def __init__(self, socket_path: Path, containers: list[StandinContainer] | None = None) -> None:
        self.socket_path = socket_path
        self.containers = {c.name: c for c in containers or []}
        self.mode: DockerMode = "ok"
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._route)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.socket_path)).start()
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        match = _VERSIONED.match(path)
        if match:
            path = match.group(1)
        self.requests.append(f"{request.method} {request.path_qs}")
        if self.mode == "hang":
            await self._release.wait()
        if self.mode == "error":
            return web.json_response({"message": "server error"}, status=500)
        if self.mode == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if path == "/_ping":
            return web.Response(text="OK")
        if path == "/version":
            return web.json_response({"Version": "27.3.1", "ApiVersion": "1.47"})
        if path == "/containers/json":
            return self._list(request)
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
            return self._inspect(parts[1])
        return web.json_response({"message": f"page not found: {path}"}, status=404)

    def _list(self, request: web.Request) -> web.Response:
        if self.mode == "wrong_shape":
            return web.json_response({"containers": "not a list"})
        every = request.query.get("all") in ("1", "true", "True")
        shown = [c.summary() for c in self.containers.values() if every or c.state == "running"]
        return web.json_response(shown)

    def _inspect(self, ref: str) -> web.Response:
        for container in self.containers.values():
            if ref in (container.id, container.name) or container.id.startswith(ref):
                return web.json_response(container.inspect())
        return web.json_response({"message": f"No such container: {ref}"}, status=404)
