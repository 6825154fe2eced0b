"""A fast OpenAI-compatible model node for ``bench/gateway.py``, run in a process of its own.

``POST /v1/chat/completions`` answers every request with the same reply: streamed, 20 content
chunks (the first carries the role), then the finish chunk, the usage chunk when
``stream_options.include_usage`` is set, and ``data: [DONE]``; not streamed, one
``chat.completion`` object. ``GET /v1/models`` lists :data:`MODEL`.

Why not ``tests/support/standins.OpenAIStandin``: it records every request (headers, raw
body) for the tests to inspect, which grows without bound and costs CPU under a load of tens
of thousands of requests; the node must stay faster than the fastest system measured. The
wire format is the same (OpenAI's chunk shape, ``usage: null`` in every chunk when usage is
asked for, as OpenAI sends it).

Run: ``python bench/_node.py [--port P] [--chunk-delay S]``; prints one JSON line
``{"port": P}`` once it listens, serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

from _serving import serve_until_signal
from aiohttp import web

__all__ = ["CHUNKS", "MODEL", "REPLY_TEXT", "main"]

MODEL = "bench-model"
CHUNKS = 20
DELTAS = [f"word{index} " for index in range(CHUNKS)]
REPLY_TEXT = "".join(DELTAS)


def _frames(model: str, include_usage: bool, prompt_tokens: int) -> list[bytes]:
    """The SSE frames of one streamed reply: each content chunk, then the closing frames."""
    head = json.dumps({"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                       "created": int(time.time()), "model": model,
                       "system_fingerprint": None})[:-1]
    usage = ',"usage":null' if include_usage else ""
    frames = []
    for index, text in enumerate(DELTAS):
        delta = {"role": "assistant", "content": text} if index == 0 else {"content": text}
        frames.append(f'data: {head},"choices":[{{"index":0,"delta":{json.dumps(delta)},'
                      f'"logprobs":null,"finish_reason":null}}]{usage}}}\n\n'.encode())
    closing = (f'data: {head},"choices":[{{"index":0,"delta":{{}},"logprobs":null,'
               f'"finish_reason":"stop"}}]{usage}}}\n\n')
    if include_usage:
        counts = {"prompt_tokens": prompt_tokens, "completion_tokens": CHUNKS,
                  "total_tokens": prompt_tokens + CHUNKS}
        closing += f'data: {head},"choices":[],"usage":{json.dumps(counts)}}}\n\n'
    frames.append((closing + "data: [DONE]\n\n").encode())
    return frames


def _completion(model: str, prompt_tokens: int) -> dict[str, object]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "system_fingerprint": None,
            "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": REPLY_TEXT}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": CHUNKS,
                      "total_tokens": prompt_tokens + CHUNKS}}


class Node:
    """The node's handlers; ``chunk_delay`` seconds between content chunks (0: none)."""

    def __init__(self, chunk_delay: float = 0.0) -> None:
        self.chunk_delay = chunk_delay

    async def models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [
            {"id": MODEL, "object": "model", "created": 1700000000, "owned_by": "bench"}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
            model = str(body["model"])
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.json_response({"error": {"message": "bad request", "type":
                                                "invalid_request_error"}}, status=400)
        if not body.get("stream"):
            return web.json_response(_completion(model, prompt_tokens))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        for index, frame in enumerate(_frames(model, include_usage, prompt_tokens)):
            if index and self.chunk_delay > 0:
                await asyncio.sleep(self.chunk_delay)
            await response.write(frame)
        await response.write_eof()
        return response


async def serve(port: int, chunk_delay: float) -> None:
    node = Node(chunk_delay)
    app = web.Application()
    app.add_routes([web.get("/v1/models", node.models),
                    web.post("/v1/chat/completions", node.chat)])
    await serve_until_signal(app, port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.chunk_delay))
    return 0


if __name__ == "__main__":
    sys.exit(main())
