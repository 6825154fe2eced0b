"""deploy/nginx/homecrew-gateway.conf in a real nginx: valid, passes an SSE event on before
the upstream has finished the stream, skips a replica that is down. The two upstreams are
small aiohttp servers standing in for the replicas (the config is under test here, not
``homecrew serve``). Needs nginx (``apt-get install -y nginx-light``); skipped without it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.support.processes import ManagedProcess, free_port, http_ready
from tests.test_support_paths import REPO

CONFIG = REPO / "deploy" / "nginx" / "homecrew-gateway.conf"
PORTS = ("127.0.0.1:4000", "127.0.0.1:4001", "127.0.0.1:4002")


def _nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx-light)")
    return found


def _main_config(root: Path, site: Path) -> Path:
    for sub in ("body", "proxy"):
        (root / sub).mkdir(exist_ok=True)
    main = root / "nginx.conf"
    main.write_text(
        f"daemon off;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {root}/body;\n"
        f"  proxy_temp_path {root}/proxy;\n  include {site};\n}}\n")
    return main


@dataclass
class Replica:
    name: str
    port: int
    go_on: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/health", self._health), web.post("/v1/stream", self._stream)])
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "replica": self.name})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f"data: first from {self.name}\n\n".encode())
        await self.go_on.wait()  # the client must see the first event before this one
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def test_the_proxy_config_is_valid(tmp_path: Path) -> None:
    nginx = _nginx()
    checked = subprocess.run([nginx, "-t", "-c", str(_main_config(tmp_path, CONFIG))],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


@pytest.fixture
def proxy_ports() -> list[int]:
    return [free_port() for _ in PORTS]


@pytest.fixture
def proxy(tmp_path: Path, proxy_ports: list[int]) -> Iterator[str]:
    """The deploy config in nginx, its three ports moved to free ones; yields its URL."""
    nginx = _nginx()
    site = CONFIG.read_text()
    for fixed, port in zip(PORTS, proxy_ports, strict=True):
        site = site.replace(fixed, f"127.0.0.1:{port}")
    moved = tmp_path / "site.conf"
    moved.write_text(site)
    main = _main_config(tmp_path, moved)
    url = f"http://127.0.0.1:{proxy_ports[0]}"
    # /metrics is answered by nginx itself (404), whether the replicas are up or not
    with ManagedProcess([nginx, "-c", str(main)], ready=http_ready(f"{url}/metrics", status=404),
                        timeout=20, name="nginx"):
        yield url


@pytest.fixture
async def replicas(proxy_ports: list[int]) -> AsyncIterator[list[Replica]]:
    started = [Replica("a", proxy_ports[1]), Replica("b", proxy_ports[2])]
    for replica in started:
        await replica.start()
    try:
        yield started
    finally:
        for replica in started:
            replica.go_on.set()
            await replica.stop()


async def test_sse_streams_through_and_a_dead_replica_is_skipped(
        replicas: list[Replica], proxy: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy}/v1/stream", json={}) as response:
            assert response.status == 200
            async with asyncio.timeout(5):
                first = await response.content.readline()
            assert first.startswith(b"data: first from ")
            for replica in replicas:
                replica.go_on.set()
            rest = await response.read()
        assert rest.strip().endswith(b"data: [DONE]")

        await replicas[0].stop()
        for _ in range(4):  # every request answered, by the replica that is up
            async with session.get(f"{proxy}/health") as health:
                assert health.status == 200
                assert (await health.json())["replica"] == "b"
            async with session.post(f"{proxy}/v1/stream", json={}) as response:
                assert response.status == 200
                assert b"first from b" in await response.read()

        async with session.get(f"{proxy}/metrics") as metrics:
            assert metrics.status == 404, "metrics are scraped per replica, not proxied"
