"""The load generator of ``bench/gateway.py``: runs in child processes of its own.

Every request is a streamed ``POST /v1/chat/completions`` with
``stream_options.include_usage`` and a prompt no other request has (nothing can be served from
a cache), read to ``data: [DONE]``. A request that does not answer 200 or ends without
``[DONE]`` counts as an error.

* :func:`latency_rounds` — concurrency 1: each round sends one request to every target, one
  after the other (the order rotates by round), over one keep-alive connection per target; the
  time of each, and the reply text of the first rounds checked against the node's.
* :func:`throughput` — ``concurrency`` requests in flight at all times for a warm-up and then
  ``duration`` seconds; the requests completed inside the measured window, errors.

Both are plain functions of picklable arguments, for ``multiprocessing`` (spawn) pools.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass

__all__ = ["Target", "Throughput", "latency_rounds", "pin", "throughput"]

CHECKED_ROUNDS = 5
_DONE = b"data: [DONE]"


@dataclass(frozen=True, slots=True)
class Target:
    """One system to load: its base URL (no path) and the ``model`` it is asked for."""

    name: str
    base_url: str
    model: str


@dataclass(frozen=True, slots=True)
class Throughput:
    """One load process's share of a throughput run."""

    completed: int  # inside the measured window
    total: int  # warm-up and the requests in flight at the window's end included
    errors: int
    first_error: str | None


def pin(cpus: frozenset[int]) -> None:
    """Pool initializer: keep this process on ``cpus`` (empty: wherever the kernel puts it)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


class _Requests:
    """Request bodies with unique prompts for one target."""

    def __init__(self, target: Target, tag: str) -> None:
        self.path = "/v1/chat/completions"
        self._prefix = ('{"model":' + json.dumps(target.model) + ',"stream":true,'
                        '"stream_options":{"include_usage":true},"messages":[{"role":"user",'
                        '"content":"' + f"{tag}-{os.getpid()}-").encode()
        self._count = 0

    def next_body(self) -> bytes:
        self._count += 1
        return self._prefix + f'{self._count}: say hello"}}]}}'.encode()


class _Connection:
    """One keep-alive HTTP/1.1 connection, spoken by hand: the load generator has to cost
    far less than the servers it loads (aiohttp's client costs about what its server does).
    Reconnects when the server closes."""

    def __init__(self, base_url: str) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (path.encode(), self.host.encode(),
                                                         self.port, len(body), body))
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            headers = head.lower()
            if b"transfer-encoding: chunked" in headers:
                payload = await self._chunked(reader)
            else:
                length = int(headers.split(b"content-length:")[1].split(b"\r\n")[0])
                payload = await reader.readexactly(length)
        except BaseException:
            await self.close()
            raise
        if b"connection: close" in headers:
            await self.close()
        return status, payload

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append((await reader.readexactly(size + 2))[:-2])


async def _one(connection: _Connection, requests: _Requests) -> bytes:
    """Send one request and read it to ``[DONE]``; the body."""
    try:
        status, body = await connection.post(requests.path, requests.next_body())
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
    if _DONE not in body[-64:]:
        raise RuntimeError(f"the stream ended without [DONE] (tail {body[-64:]!r})")
    return body


def _text(body: bytes) -> str:
    """The content deltas of an SSE chat stream, joined."""
    parts: list[str] = []
    for line in body.split(b"\n"):
        if not line.startswith(b"data: ") or line.startswith(_DONE):
            continue
        for choice in json.loads(line[6:]).get("choices") or ():
            parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


async def _latency_rounds(targets: list[Target], rounds: int, warmup: int,
                          expected_text: str) -> dict[str, list[float]]:
    connections = {t.name: _Connection(t.base_url) for t in targets}
    requests = {t.name: _Requests(t, f"latency-{t.name}") for t in targets}
    times: dict[str, list[float]] = {t.name: [] for t in targets}
    try:
        for index in range(warmup + rounds):
            shift = index % len(targets)
            for target in targets[shift:] + targets[:shift]:
                check = index < CHECKED_ROUNDS
                started = time.perf_counter()
                body = await _one(connections[target.name], requests[target.name])
                elapsed = time.perf_counter() - started
                if check and (text := _text(body)) != expected_text:
                    raise RuntimeError(f"{target.name} answered {text!r}, "
                                       f"not the node's {expected_text!r}")
                if index >= warmup:
                    times[target.name].append(elapsed)
    finally:
        for connection in connections.values():
            await connection.close()
    return times


def latency_rounds(targets: list[Target], rounds: int, warmup: int,
                   expected_text: str) -> dict[str, list[float]]:
    """Per target, the seconds of each measured request (round ``i`` at index ``i``)."""
    return asyncio.run(_latency_rounds(targets, rounds, warmup, expected_text))


async def _throughput(target: Target, concurrency: int, warmup: float,
                      duration: float) -> Throughput:
    requests = _Requests(target, f"load-{target.name}")
    completed = total = errors = 0
    first_error: str | None = None
    started = time.perf_counter()
    window = (started + warmup, started + warmup + duration)

    async def worker() -> None:
        nonlocal completed, total, errors, first_error
        connection = _Connection(target.base_url)
        while time.perf_counter() < window[1]:
            try:
                async with asyncio.timeout(60):
                    await _one(connection, requests)
            except (RuntimeError, TimeoutError) as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.01)
                continue
            total += 1
            if window[0] <= time.perf_counter() <= window[1]:
                completed += 1
        await connection.close()

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return Throughput(completed, total, errors, first_error)


def throughput(target: Target, concurrency: int, warmup: float, duration: float) -> Throughput:
    """Closed loop: ``concurrency`` requests in flight; those finished inside the
    ``duration`` window after the warm-up count as completed."""
    return asyncio.run(_throughput(target, concurrency, warmup, duration))
