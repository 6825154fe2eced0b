"""The aiohttp application: routes, bearer auth, OpenAI-shaped errors, request log.

Routes: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /v1/models/{id}``,
``GET /health`` and ``GET /metrics``. Auth (when ``api_key`` is set) covers ``/v1/*``;
``/health`` and ``/metrics`` stay open for probes and scrapers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from mlx_daemon.chat import DAEMON_KEY, chat_completions
from mlx_daemon.errors import ApiError, model_not_found, server_error, unauthorized
from mlx_daemon.metrics import CONTENT_TYPE
from mlx_daemon.service import Daemon

__all__ = ["DAEMON_KEY", "build_app", "error_response"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=dict(error.headers))


@web.middleware
async def _request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    began = time.monotonic()
    status = "cancelled"
    try:
        response = await handler(request)
        status = str(response.status)
        return response
    finally:
        log.info("%s %s %s %.3fs", request.method, request.path, status, time.monotonic() - began)


@web.middleware
async def _openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http(request, exc))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(server_error("The server had an error processing your request."))


def _from_http(request: web.Request, exc: web.HTTPException) -> ApiError:
    """aiohttp's own errors (unknown URL, wrong method, body too large) in OpenAI's shape."""
    kind = "server_error" if exc.status >= 500 else "invalid_request_error"
    if exc.status in (404, 405):
        message = f"Invalid URL ({request.method} {request.path})"
    else:
        message = exc.reason or f"HTTP {exc.status}"
    return ApiError(exc.status, message, type=kind, headers=_kept_headers(exc))


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}


def _bearer_auth(key: str) -> Middleware:
    expected = f"Bearer {key}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v1/") or request.path == "/v1":
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise unauthorized()
        return await handler(request)

    return check


async def _models(request: web.Request) -> web.Response:
    return web.json_response(request.app[DAEMON_KEY].models_listing())


async def _model(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    wanted = request.match_info["model_id"]
    for entry in daemon.models_listing()["data"]:
        if entry["id"] == wanted:
            return web.json_response(entry)
    raise model_not_found(wanted, daemon.registry.model_ids())


async def _health(request: web.Request) -> web.Response:
    alive, body = request.app[DAEMON_KEY].health()
    return web.json_response(body, status=200 if alive else 503)


async def _metrics(request: web.Request) -> web.Response:
    payload = request.app[DAEMON_KEY].metrics.render()
    response = web.Response(body=payload)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def build_app(daemon: Daemon) -> web.Application:
    """The web application serving ``daemon`` (which the caller starts and stops)."""
    middlewares: list[Middleware] = [_request_log, _openai_errors]
    if daemon.settings.api_key is not None:
        middlewares.append(_bearer_auth(daemon.settings.api_key.get_secret_value()))
    app = web.Application(middlewares=middlewares,
                          client_max_size=daemon.settings.max_request_bytes)
    app[DAEMON_KEY] = daemon
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/models/{model_id:.+}", _model)
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    return app
