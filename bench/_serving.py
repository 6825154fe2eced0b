"""Run one bench server process: an aiohttp app on loopback until SIGTERM/SIGINT.

It prints ``{"port": N}`` once listening (``bench/gateway.py`` reads that line) and closes
the app on the way out. Shared by the stand-in node (``_node.py``) and the pass-through
floor (``_passthrough.py``).
"""

from __future__ import annotations

import asyncio
import json
import signal

from aiohttp import web

__all__ = ["serve_until_signal"]


async def serve_until_signal(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
