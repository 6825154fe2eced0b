"""OpenAI's embeddings API (``POST /v1/embeddings``): the request parsed, the answer rendered.

Request (OpenAI's reference): ``model`` (a route, alias or agent name, resolved by the
handler), ``input`` (a string or a list of strings; token-id arrays are refused with a 400
naming ``input``), ``dimensions`` (an integer ≥ 1), ``encoding_format`` (``float``, the
default, or ``base64``: the vector's little-endian float32 bytes, which the official
``openai`` SDK asks for unless told otherwise) and ``user`` (accepted, ignored). Any other
key is a 400 naming it.

Answer: ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
"model": <the name the client sent>, "usage": {"prompt_tokens", "total_tokens"}}``, with
who answered in ``x-homecrew-…`` headers as for chat.

The handler (:func:`routes`) admits the request with the gateway's gatekeeper, resolves
``model`` to an embedding route or an embedding model's alias (a chat name is a 404
listing the embedding names), checks the key's route scope, and runs
:meth:`inference.runtime.InferenceStack.embed` with the key's name for the ledger; its
failures are mapped by :func:`gateway.calls.gateway_error` (503 listing each step, 400
for a rejection).
"""

from __future__ import annotations

import array
import base64
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from gateway.access import Grant
from gateway.calls import Gateway, gateway_error, read_json
from gateway.errors import BadRequest, Unsupported
from inference.errors import InferenceError
from inference.types import EmbedRequest, EmbedResult

__all__ = ["MAX_INPUTS", "EmbedCall", "EncodingFormat", "embed", "parse_embeddings",
           "render_embeddings", "routes"]

EncodingFormat = Literal["float", "base64"]
MAX_INPUTS = 2048  # OpenAI's limit of texts in one request
_KNOWN = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


@dataclass(frozen=True, slots=True)
class EmbedCall:
    """One embeddings call as the client asked for it; ``model`` is echoed back."""

    model: str
    inputs: tuple[str, ...]
    dimensions: int | None = None
    encoding_format: EncodingFormat = "float"


def parse_embeddings(body: object) -> EmbedCall:
    """The call in ``body`` (decoded JSON); :class:`BadRequest` names a bad field."""
    if not isinstance(body, Mapping):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(str(key) for key in body if key not in _KNOWN)
    if unknown:
        raise Unsupported(unknown[0], "not a parameter of the embeddings API homecrew "
                          f"supports (supported: {', '.join(sorted(_KNOWN))})")
    return EmbedCall(model=_model(body.get("model")), inputs=_inputs(body.get("input")),
                     dimensions=_dimensions(body.get("dimensions")),
                     encoding_format=_encoding(body.get("encoding_format")))


def render_embeddings(call: EmbedCall, result: EmbedResult) -> dict[str, Any]:
    """OpenAI's answer for ``result``, in ``call.encoding_format``."""
    encode = _base64 if call.encoding_format == "base64" else list
    data = [{"object": "embedding", "index": index, "embedding": encode(vector)}
            for index, vector in enumerate(result.vectors)]
    return {"object": "list", "data": data, "model": call.model,
            "usage": {"prompt_tokens": result.prompt_tokens,
                      "total_tokens": result.prompt_tokens}}


async def embed(gateway: Gateway, call: EmbedCall, grant: Grant) -> EmbedResult:
    """Run ``call`` for ``grant``'s key (403 / 404 / 503 … raised as gateway errors)."""
    target = gateway.catalog.resolve(call.model, embedding=True)
    grant.check(target.routes, call.model)
    request = EmbedRequest(route=target.route, inputs=call.inputs, key_name=grant.key_name,
                           dimensions=call.dimensions)
    try:
        return await gateway.stack.embed(request)
    except InferenceError as exc:
        raise gateway_error(exc) from None


def routes(gateway: Gateway) -> list[web.RouteDef]:
    """``POST /v1/embeddings``."""

    async def embeddings(request: web.Request) -> web.StreamResponse:
        grant = await gateway.gate.admit(request.headers)
        call = parse_embeddings(await read_json(request))
        result = await embed(gateway, call, grant)
        return web.json_response(render_embeddings(call, result), headers=_headers(result))

    return [web.post("/v1/embeddings", embeddings)]


def _headers(result: EmbedResult) -> dict[str, str]:
    return {"x-homecrew-route": result.route, "x-homecrew-model": result.model,
            "x-homecrew-node": result.node,
            "x-homecrew-fallback-depth": str(result.fallback_depth)}


def _model(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("model: required, the name of a route, model alias or agent "
                         "(GET /v1/models lists them)", param="model")
    return value


def _inputs(value: object) -> tuple[str, ...]:
    if value is None:
        raise BadRequest("input: required, a string or a list of strings", param="input")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise BadRequest("input: expected a non-empty string or a non-empty list of strings",
                         param="input")
    if any(isinstance(item, int | list) and not isinstance(item, bool) for item in value):
        raise Unsupported("input", "token-id arrays are not supported; send the text")
    if len(value) > MAX_INPUTS:
        raise BadRequest(f"input: at most {MAX_INPUTS} texts a request (got {len(value)})",
                         param="input")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise BadRequest(f"input[{index}]: expected a string, got "
                             f"{type(item).__name__}", param="input")
        if not item:
            raise BadRequest(f"input[{index}]: an empty string cannot be embedded",
                             param="input")
    return tuple(value)


def _dimensions(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"dimensions: expected an integer of at least 1 (got {value!r})",
                         param="dimensions")
    return value


def _encoding(value: object) -> EncodingFormat:
    if value is None or value == "float":
        return "float"
    if value == "base64":
        return "base64"
    raise BadRequest(f"encoding_format: expected 'float' or 'base64' (got {value!r})",
                     param="encoding_format")


def _base64(vector: Sequence[float]) -> str:
    """The vector as little-endian float32 bytes, base64-encoded (OpenAI's ``base64``)."""
    packed = array.array("f", vector)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
