"""A homecrew process that asks once through the real runtime, says so, then stays up.

``python -m tests.support.ledger_client CONFIG ROUTE PROMPT`` loads ``CONFIG`` like the CLI
does, opens the real :class:`~inference.runtime.InferenceStack`, asks ``ROUTE``, prints
``replied <node>`` once the reply is complete, and then waits forever, so a test can
``kill -9`` it at a moment of its choosing (e.g. while the ledger's database is down).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from homecrew.settings import load_settings
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message


async def _serve(config: Path, route: str, prompt: str) -> None:
    settings = load_settings(config)
    async with InferenceStack.open(settings) as stack:
        done = await stack.complete(ChatRequest(route=route, messages=[Message("user", prompt)],
                                                use_cache=False))
        print(f"replied {done.node}", flush=True)
        await asyncio.Event().wait()  # until killed


def main() -> None:
    config, route, prompt = sys.argv[1:4]
    asyncio.run(_serve(Path(config), route, prompt))


if __name__ == "__main__":
    main()
