"""The gateway's ``aiohttp.web`` application: middlewares, ``/health`` and each API's routes.

Middlewares, outermost first:

* **errors**: every failure is answered in the shape of the API that was called (paths
  under ``/v1/messages``: Anthropic's ``{"type": "error", ...}``, all others OpenAI's
  ``{"error": {...}}``) with the error's status and headers (``Retry-After``). Anything
  unexpected is logged here and answered as a plain 500: never a stack trace or a secret.
* **body limit**: a ``Content-Length`` over ``gateway.max_body_bytes`` is refused (413)
  before the body is read; a chunked or lying body is cut off while it is read
  (``client_max_size``), with the same 413.

Adding an API: a module exposes ``routes(gateway: Gateway) -> list[web.RouteDef]`` (see
:func:`gateway.openai_api.routes`) and is listed in :data:`APIS`, or passed to
:func:`create_app` as ``apis=``. Handlers admit the request with ``gateway.gate``, parse
the body with their dialect and run the call with :meth:`Gateway.complete` /
:meth:`Gateway.open_stream`, raising :class:`~gateway.errors.GatewayError` for any
refusal. ``extra_routes`` adds routes that are no API (e.g. ``/metrics``);
``middlewares`` adds middlewares inside the two above (e.g. request metrics).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from gateway import anthropic_api, embeddings_api, openai_api
from gateway.calls import Gateway
from gateway.errors import BodyTooLarge, GatewayError

__all__ = ["APIS", "ApiRoutes", "create_app", "error_response"]

log = logging.getLogger(__name__)

ApiRoutes = Callable[[Gateway], list[web.RouteDef]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
APIS: tuple[ApiRoutes, ...] = (openai_api.routes, anthropic_api.routes, embeddings_api.routes)
ANTHROPIC_PREFIX = "/v1/messages"


def create_app(
    gateway: Gateway,
    *,
    apis: Sequence[ApiRoutes] = APIS,
    extra_routes: Sequence[web.RouteDef] = (),
    middlewares: Sequence[Any] = (),
) -> web.Application:
    """The application serving ``apis`` (default: every API of the gateway) and
    ``/health`` over ``gateway``."""
    limit = gateway.settings.max_body_bytes
    app = web.Application(
        middlewares=[_errors(limit), _body_limit(limit), *middlewares],
        client_max_size=limit + 1,  # aiohttp refuses a body of client_max_size bytes
    )
    for api in apis:
        app.add_routes(api(gateway))
    app.add_routes([web.get("/health", _health(gateway)), *extra_routes])
    return app


def error_response(path: str, error: GatewayError) -> web.Response:
    """``error`` as the API under ``path`` renders it."""
    if path.startswith(ANTHROPIC_PREFIX):
        body = anthropic_api.error_body(error)
    else:
        body = openai_api.error_body(error)
    return web.json_response(body, status=error.status, headers=error.headers,
                             dumps=json.dumps)


class _HttpStatus(GatewayError):
    """An aiohttp-level refusal (no such path, method not allowed)."""

    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        if status == 404:
            self.anthropic_type = "not_found_error"


def _errors(limit: int) -> Any:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except GatewayError as exc:
            return error_response(request.path, exc)
        except web.HTTPRequestEntityTooLarge:
            return error_response(request.path, BodyTooLarge(limit))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = f"{request.method} {request.path}: {exc.reason}"
            return error_response(request.path, _HttpStatus(exc.status, message))
        except Exception:
            log.exception("unexpected failure answering %s %s", request.method, request.path)
            return error_response(request.path, GatewayError("internal error"))

    return errors


def _body_limit(limit: int) -> Any:
    @web.middleware
    async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > limit:
            raise BodyTooLarge(limit)
        return await handler(request)

    return body_limit


def _health(gateway: Gateway) -> Handler:
    async def health(request: web.Request) -> web.StreamResponse:
        stack = gateway.stack
        nodes = {name: {"up": node.up, "state": node.state.value,
                        "last_error": node.last_error, "probe_ok": node.probe_ok}
                 for name, node in stack.health().items()}
        routes: dict[str, Any] = {}
        for route in stack.settings.routes:
            status = stack.route_status(route)
            routes[route] = {"serving": status.serving,
                             "steps": [{"model": alias, "node": node, "up": allowed}
                                       for alias, node, allowed in status.steps]}
        serving = all(r["serving"] is not None for r in routes.values())
        return web.json_response({"status": "ok" if serving else "degraded",
                                  "nodes": nodes, "routes": routes})

    return health
