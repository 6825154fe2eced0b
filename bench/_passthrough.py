"""The Python floor for ``bench/gateway.py``: a bare aiohttp pass-through to one node.

Every request to ``/v1/...`` is sent on to the same path of the upstream node with its body
and content type, over one pooled ``aiohttp.ClientSession`` (keep-alive, no connection
limit), and the upstream's status, content type and body bytes are streamed back as they
arrive. No parsing, no routing, no accounting: what any Python gateway on aiohttp pays at
least.

Run: ``python bench/_passthrough.py --upstream http://127.0.0.1:PORT [--port P]``; prints one
JSON line ``{"port": P}`` once it listens, serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp
from _serving import serve_until_signal
from aiohttp import web

__all__ = ["PassThrough", "main"]


class PassThrough:
    """Forwards requests to ``upstream`` (a base URL without a path)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_read=60))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         data=body or None, headers=headers) as upstream:
            response = web.StreamResponse(status=upstream.status, headers={
                "Content-Type": upstream.headers.get("Content-Type", "application/json")})
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


async def serve(upstream: str, port: int) -> None:
    proxy = PassThrough(upstream)
    await proxy.open()
    app = web.Application()
    app.router.add_route("*", "/v1/{tail:.*}", proxy.forward)
    try:
        await serve_until_signal(app, port)
    finally:
        await proxy.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.upstream, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
