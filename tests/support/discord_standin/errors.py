"""Discord-style API errors: HTTP status + JSON `{"message", "code"}`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

__all__ = ["ApiError", "error_response", "json_response"]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON with `Content-Type: application/json` exactly (discord.py compares the header)."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=json.dumps(body).encode(), status=status, headers=all_headers)


class ApiError(Exception):
    """Raised by a handler to answer like Discord does (e.g. 404 / 10008 Unknown Message)."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    @classmethod
    def unknown(cls, what: str, code: int) -> ApiError:
        return cls(404, code, f"Unknown {what}")

    @classmethod
    def invalid_form(cls, field: str, message: str, code: str = "BASE_TYPE_INVALID") -> ApiError:
        errors = {field: {"_errors": [{"code": code, "message": message}]}}
        return cls(400, 50035, "Invalid Form Body", errors)


def error_response(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"message": error.message, "code": error.code}
    if error.errors is not None:
        body["errors"] = error.errors
    return json_response(body, status=error.status)
