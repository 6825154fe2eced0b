"""Run a server as a subprocess for a test and wait until it is ready.

Generic: nothing here knows which server it runs. ``ManagedProcess`` spawns ``argv``,
captures stdout+stderr to a log file, polls a readiness probe (a callable or a URL)
with a short backoff, raises ``ProcessStartError`` with the output tail if the process
dies or is not ready in time, and terminates it (SIGTERM, then SIGKILL) on exit.
Usable as a sync or async context manager.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

__all__ = [
    "ManagedProcess",
    "ProcessStartError",
    "free_port",
    "http_ready",
]

ReadyProbe = Callable[[], bool]


class ProcessStartError(RuntimeError):
    """The process exited, or was not ready before the timeout."""


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def http_ready(url: str, *, status: int = 200, timeout: float = 2.0) -> ReadyProbe:
    """A probe that is true once ``GET url`` answers with ``status``."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=timeout).status_code == status
        except httpx.HTTPError:
            return False

    return probe


class ManagedProcess:
    """A subprocess that is started, awaited until ready, and reliably stopped."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        ready: ReadyProbe | str,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        cwd: Path | None = None,
        name: str | None = None,
        stop_grace: float = 10.0,
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(self.argv[0]).name
        self._ready = http_ready(ready) if isinstance(ready, str) else ready
        self.env: dict[str, str] = {**os.environ, **(env or {})}
        self._timeout = timeout
        self._cwd = cwd
        self._stop_grace = stop_grace
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None

    @property
    def pid(self) -> int:
        return self._require().pid

    @property
    def returncode(self) -> int | None:
        return self._require().poll()

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn the process and block until the probe passes (or raise)."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name} already started")
        fd, log_name = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")
        self.log_path = Path(log_name)
        self._log = os.fdopen(fd, "wb")
        began = time.monotonic()
        self._proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self._cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _wait_ready(self, began: float) -> None:
        delay = 0.05
        while True:
            code = self._require().poll()
            if code is not None:
                raise ProcessStartError(
                    f"{self.name} exited with code {code} before it was ready; "
                    f"output tail:\n{self.output_tail()}"
                )
            if self._ready():
                return
            if time.monotonic() - began > self._timeout:
                raise ProcessStartError(
                    f"{self.name} not ready after {self._timeout:.0f}s; "
                    f"output tail:\n{self.output_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def stop(self) -> int | None:
        """Terminate (SIGTERM, then SIGKILL after the grace period); return the exit code."""
        proc, self._proc = self._proc, None
        code: int | None = None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(self._stop_grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(self._stop_grace)
            code = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
        return code

    def output_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the process wrote to stdout/stderr (while it runs)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        if self._log is not None:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _require(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._proc

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
