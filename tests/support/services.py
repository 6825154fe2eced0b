"""Real Redis and PostgreSQL for tests.

The shared servers on 127.0.0.1:6379 / :5432 (or ``$REDIS_URL`` / ``$DATABASE_URL``) are
used when they answer; otherwise a throwaway server is started for the session. Fault
tests get their own throwaway processes (``RedisProcess``, ``PostgresProcess``) that they
may stop and restart without harming anything else. PostgreSQL refuses to run as root,
so throwaway clusters are created and run as the ``postgres`` user.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from tests.support.processes import ManagedProcess, free_port

__all__ = [
    "PostgresProcess",
    "RedisProcess",
    "pg_database_url",
    "pg_server_url",
    "redis_url",
    "store_url",
]

# Parallel checkouts on one machine can each take their own database.
_REDIS_DB = int(os.environ.get("HOMECREW_TEST_REDIS_DB", "9"))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return path


class RedisProcess(ManagedProcess):
    """A throwaway ``redis-server`` on a free loopback port (no persistence)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        super().__init__(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            ready=self._ping, timeout=20, name="redis-server",
        )

    def _ping(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False


class PostgresProcess:
    """A throwaway PostgreSQL cluster, run as the ``postgres`` user; stop/start at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self._root = Path(tempfile.mkdtemp(prefix="hc-pg-"))
        self._data = self._root / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._proc: ManagedProcess | None = None

    def _as_postgres(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def init(self) -> None:
        os.chmod(self._root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self._root, "postgres", "postgres")
        subprocess.run(
            self._as_postgres(_pg_bin("initdb"), "-D", str(self._data), "-U", "postgres",
                              "--auth=trust", "-E", "UTF8", "--no-sync"),
            check=True, capture_output=True,
        )

    def start(self) -> None:
        argv = self._as_postgres(
            _pg_bin("postgres"), "-D", str(self._data), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", str(self._root), "-c", "fsync=off",
        )
        self._proc = ManagedProcess(argv, ready=self._ready, timeout=30, name="postgres")
        self._proc.start()

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), as an outage looks to them."""
        if self._proc is not None:
            subprocess.run(
                self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self._data), "-m", "fast",
                                  "-w", "stop"),
                capture_output=True, check=False, timeout=30,
            )
            self._proc.stop()
            self._proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def _ready(self) -> bool:
        result = subprocess.run(
            [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True, check=False,
        )
        return result.returncode == 0

    def __enter__(self) -> PostgresProcess:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    client = redis.Redis.from_url(url, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        with RedisProcess() as proc:
            yield proc.url
        return
    finally:
        client.close()
    yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """A Redis database emptied for this test."""
    base = redis_server_url.rsplit("/", 1)[0]
    url = f"{base}/{_REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    if url.startswith("postgres") and _reachable("127.0.0.1", 5432) and _pg_connects(url):
        yield url
        return
    with PostgresProcess() as proc:
        yield proc.url


def _pg_connects(url: str) -> bool:
    async def attempt() -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=2)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(attempt())


@pytest.fixture
async def pg_database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the PostgreSQL server, dropped after the test."""
    name = f"hc_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield pg_server_url.rsplit("/", 1)[0] + f"/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """Each test twice: on the default store (SQLite in the data dir: ``None``) and on a
    fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_database_url")
    return url


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    with RedisProcess() as proc:
        yield proc


@pytest.fixture
def postgres_process() -> Iterator[PostgresProcess]:
    with PostgresProcess() as proc:
        yield proc
