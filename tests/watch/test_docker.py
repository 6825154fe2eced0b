"""The Docker check against a stand-in Docker Engine API on a unix socket."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.docker_standin import DockerStandin, StandinContainer
from watch.checks import DockerCheck
from watch.results import CheckResult, Status, run_check
from watch.settings import DockerCheckSettings


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hc-dk-"))  # short: unix socket paths are limited
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def docker(socket_dir: Path) -> AsyncIterator[DockerStandin]:
    containers = [StandinContainer("redis", health="healthy"), StandinContainer("postgres"),
                  StandinContainer("skip-dashboard", health="healthy")]
    async with DockerStandin(socket_dir / "docker.sock", containers) as standin:
        yield standin


def by_key(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.key: r for r in results}


async def check_once(check: DockerCheck) -> dict[str, CheckResult]:
    return by_key(await run_check(check))


async def test_healthy_containers(docker: DockerStandin) -> None:
    check = DockerCheck(DockerCheckSettings(enabled=True, socket=docker.socket_path,
                                            api_version="1.43"))
    try:
        results = await check_once(check)
    finally:
        await check.aclose()
    assert {k: r.status for k, r in results.items()} == {
        "docker": Status.OK, "docker/postgres": Status.OK, "docker/redis": Status.OK,
        "docker/skip-dashboard": Status.OK}
    assert results["docker/redis"].message == "redis running, healthy"
    assert results["docker/redis"].incident_subject == "container:redis"
    assert "GET /v1.43/containers/json?all=1" in docker.requests
    assert any(r.startswith("GET /v1.43/containers/") and r.endswith("/json")
               for r in docker.requests[1:])


async def test_stopped_unhealthy_restarting_missing_and_restarts(docker: DockerStandin) -> None:
    config = DockerCheckSettings(enabled=True, socket=docker.socket_path, max_restarts=5,
                                 containers=("redis", "postgres", "skip-dashboard", "grafana"))
    check = DockerCheck(config)
    try:
        assert (await check_once(check))["docker/grafana"].status is Status.CRITICAL
        docker.containers["postgres"].state = "exited"
        docker.containers["postgres"].exit_code = 137
        docker.containers["redis"].health = "unhealthy"
        docker.containers["redis"].failing_streak = 4
        docker.containers["skip-dashboard"].restart_count = 2
        results = await check_once(check)
        assert results["docker/postgres"].status is Status.CRITICAL
        assert results["docker/postgres"].message == "container postgres exited (exit code 137)"
        assert results["docker/redis"].message == (
            "container redis unhealthy (4 failed health check(s) in a row)")
        dashboard = results["docker/skip-dashboard"]
        assert dashboard.status is Status.WARN
        assert "restarted 2 time(s) since the last sweep" in dashboard.message
        assert results["docker/grafana"].message == "container grafana not found"

        docker.containers["skip-dashboard"].state = "restarting"
        docker.containers["skip-dashboard"].restart_count = 7
        results = await check_once(check)
        dashboard = results["docker/skip-dashboard"]
        assert dashboard.status is Status.CRITICAL
        assert [b.describe() for b in dashboard.breaches] == [
            "restart count on skip-dashboard at 7 (threshold 5)"]
        assert dashboard.numbers["restart_count"] == 7
    finally:
        await check.aclose()


@pytest.mark.parametrize(("mode", "status", "message"), [
    ("malformed", Status.WARN, "Docker engine: malformed answer"),
    ("wrong_shape", Status.WARN, "Docker engine: malformed answer"),
    ("error", Status.CRITICAL, "Docker engine unreachable: HTTP 500"),
])
async def test_bad_answers(docker: DockerStandin, mode: str, status: Status,
                           message: str) -> None:
    docker.mode = mode  # type: ignore[assignment]
    check = DockerCheck(DockerCheckSettings(enabled=True, socket=docker.socket_path))
    try:
        [result] = await run_check(check)
    finally:
        await check.aclose()
    assert (result.key, result.status) == ("docker", status)
    assert result.message.startswith(message)


async def test_timeout_and_missing_socket(docker: DockerStandin, socket_dir: Path) -> None:
    docker.mode = "hang"
    check = DockerCheck(DockerCheckSettings(enabled=True, socket=docker.socket_path,
                                            timeout_s=0.3))
    try:
        [result] = await run_check(check)
    finally:
        await check.aclose()
    assert (result.key, result.status) == ("docker", Status.CRITICAL)
    assert result.message in ("no answer within 0.3s", "Docker engine unreachable: timed out")

    absent = DockerCheck(DockerCheckSettings(enabled=True, socket=socket_dir / "nope.sock"))
    try:
        [result] = await run_check(absent)
    finally:
        await absent.aclose()
    assert result.status is Status.CRITICAL
    assert result.message == "Docker engine unreachable: connection refused"
