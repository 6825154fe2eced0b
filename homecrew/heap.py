"""The start-up heap, out of the garbage collector's way.

A homecrew process is mostly what it imported and built at start-up (discord.py, aiohttp,
pydantic models, LiteLLM's tables, the settings, the stack): some 170,000 objects that live
as long as the process. CPython's full collection (its oldest generation) walks every one
of them each time it runs, and it runs every so often under steady traffic: measured
here at 37–49 ms, a stall that every reply in flight shares, and that lands in the middle
of a burst often enough to show in ``bench/bot.py``'s p50.

Once a long-running process is assembled (the bot, ``homecrew serve``),
:func:`frozen_start_up` collects what start-up left behind and moves the rest to the
permanent generation (:func:`gc.freeze`), so later collections walk only what was made
since. On exit it is given back (:func:`gc.unfreeze`), so a process that opens a bot or a
gateway more than once (the tests) never keeps garbage frozen.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["frozen_start_up"]


@contextmanager
def frozen_start_up() -> Iterator[None]:
    """Freeze what exists now for the duration of the block."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
