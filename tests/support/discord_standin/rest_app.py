"""The aiohttp application: routes, Discord-style auth, injected 429s, errors and recording."""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .errors import ApiError, error_response
from .events import RateLimitHit, RequestRejected, RestCall
from .rest_basic import BasicRoutes
from .rest_commands import CommandRoutes
from .rest_helpers import API
from .rest_interactions import InteractionRoutes
from .rest_messages import MessageRoutes
from .rest_threads import ThreadRoutes
from .rest_webhooks import WebhookRoutes
from .state import StandinState

__all__ = ["build_app"]

_log = logging.getLogger(__name__)
_NO_AUTH = re.compile(r"^/(gateway|webhooks/\d+/[^/]+(/.*)?|interactions/.*)$")


def build_app(state: StandinState) -> web.Application:
    app = web.Application(middlewares=[_middleware(state)], client_max_size=64 * 1024 * 1024)
    interactions = InteractionRoutes(state)
    route_sets = [
        BasicRoutes(state).routes(),
        MessageRoutes(state).routes(),
        ThreadRoutes(state).routes(),
        interactions.routes(),
        WebhookRoutes(state, interactions).routes(),
        CommandRoutes(state).routes(),
    ]
    for routes in route_sets:
        app.add_routes(routes)
    gateway = state.gateway.handle
    app.add_routes([web.get("/ws", gateway), web.get("/ws-resume", gateway)])
    return app


def _middleware(state: StandinState) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API + "/"):  # the gateway (/ws): only faults apply
            gateway_fault = state.faults.take(request.method, request.path)
            if gateway_fault is not None:
                return gateway_fault.respond(request)
            return await handler(request)
        method, path = request.method, request.path.removeprefix(API)
        fault = state.faults.take(method, path)
        rule = state.ratelimits.take(method, path) if fault is None else None
        if fault is not None:
            response: web.StreamResponse = fault.respond(request)
        elif rule is not None:
            state.recorder.record(
                RateLimitHit(
                    method=method, path=path, retry_after=rule.retry_after, is_global=rule.is_global
                )
            )
            response = state.ratelimits.limited_response(rule, method, path)
        else:
            response = await _answer(state, request, handler, path)
            if response.status < 400:
                response.headers.update(state.ratelimits.ok_headers(method, path))
        state.recorder.record(
            RestCall(method=method, path=path, status=response.status, query=dict(request.query))
        )
        return response

    return middleware


async def _answer(
    state: StandinState, request: web.Request, handler: Handler, path: str
) -> web.StreamResponse:
    try:
        if not _NO_AUTH.match(path) and request.headers.get("Authorization") != (
            f"Bot {state.config.token}"
        ):
            raise ApiError(401, 0, "401: Unauthorized")
        return await handler(request)
    except ApiError as error:
        _reject(state, request.method, path, error)
        return error_response(error)
    except web.HTTPNotFound:
        missing = ApiError(404, 0, f"404: Not Found (no stand-in route {request.method} {path})")
        _reject(state, request.method, path, missing)
        return error_response(missing)
    except web.HTTPMethodNotAllowed:
        not_allowed = ApiError(405, 0, "405: Method Not Allowed")
        _reject(state, request.method, path, not_allowed)
        return error_response(not_allowed)
    except Exception as exc:  # a stand-in bug or unsupported input: fail fast, not a 5xx retry loop
        _log.exception("stand-in failed on %s %s", request.method, path)
        crashed = ApiError(400, -1, f"stand-in could not handle this request: {exc!r}")
        _reject(state, request.method, path, crashed)
        return error_response(crashed)


def _reject(state: StandinState, method: str, path: str, error: ApiError) -> None:
    state.recorder.record(
        RequestRejected(
            method=method, path=path, status=error.status, code=error.code, message=error.message
        )
    )
