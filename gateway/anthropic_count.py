"""Anthropic's token counting (``POST /v1/messages/count_tokens``): ``{"input_tokens": N}``.

The body is a Messages API body without ``max_tokens``, checked by
:func:`~gateway.anthropic_request.parse_count_tokens_request` exactly as ``/v1/messages``
checks its own (a bad or unsupported field is a 400 naming it). The key is admitted by the
same gate (401, and the key's ``rpm``: 429) and the ``model`` resolved into the chain's
request as for a reply (:meth:`~gateway.calls.Gateway.request`: 404 listing the names,
403 out of the key's scope, an agent's persona prompt put first), so the count covers what
the model would be sent.

``N`` is homecrew's estimate, :func:`inference.tokens.estimate_input_tokens` (the team
engine's rule: about four characters a token, plus a few per message), never the model's
tokenizer: local nodes have none to ask. No model is called and nothing is written to the
ledger.
"""

from __future__ import annotations

from aiohttp import web

from gateway.anthropic_request import parse_count_tokens_request
from gateway.calls import Gateway, read_json
from inference.tokens import estimate_input_tokens

__all__ = ["PATH", "count_tokens", "routes"]

PATH = "/v1/messages/count_tokens"


async def count_tokens(gateway: Gateway, request: web.Request) -> web.Response:
    """The estimated input tokens of the Messages call in ``request``'s body."""
    grant = await gateway.gate.admit(request.headers)
    call = parse_count_tokens_request(await read_json(request))
    chat = gateway.request(call, grant)
    return web.json_response({"input_tokens": estimate_input_tokens(chat.messages, chat.tools)})


def routes(gateway: Gateway) -> list[web.RouteDef]:
    """``POST /v1/messages/count_tokens``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await count_tokens(gateway, request)

    return [web.post(PATH, handler)]
