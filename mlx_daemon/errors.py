"""OpenAI-shaped API errors: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ApiError",
    "bad_request",
    "context_too_long",
    "model_not_found",
    "model_unavailable",
    "overloaded",
    "request_too_large",
    "server_error",
    "unauthorized",
]


@dataclass(eq=False)
class ApiError(Exception):
    """An error answer: HTTP status plus the OpenAI error object.

    Not frozen: the interpreter and contextlib set attributes on raised exceptions.
    """

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.type}: {self.message}"

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def context_too_long(limit: int, prompt_tokens: int, completion_tokens: int | None) -> ApiError:
    if completion_tokens is None:
        detail = f"However, your messages resulted in {prompt_tokens} tokens."
    else:
        detail = (
            f"However, you requested {prompt_tokens + completion_tokens} tokens "
            f"({prompt_tokens} in the messages, {completion_tokens} in the completion)."
        )
    return ApiError(
        400,
        f"This model's maximum context length is {limit} tokens. {detail} "
        "Please reduce the length of the messages or completion.",
        param="messages",
        code="context_length_exceeded",
    )


def request_too_large(what: str, size: int | None, limit: int, setting: str) -> ApiError:
    """413: the request is refused before the compute worker sees it (``size`` None: not
    known, the body had no length and was cut off at the limit)."""
    return ApiError(
        413,
        f"The request is too large: {what} is {size if size is not None else 'more'}, this server "
        f"accepts at most {limit} "
        f"(mlx_daemon.{setting}). Please reduce the length of the messages.",
        param="messages",
        code="request_too_large",
    )


def model_not_found(model: str, known: list[str]) -> ApiError:
    return ApiError(
        404,
        f"The model {model!r} does not exist on this server "
        f"(available: {', '.join(sorted(known))})",
        param="model",
        code="model_not_found",
    )


def model_unavailable(model: str, reason: str, retry_after: int) -> ApiError:
    return ApiError(
        503,
        f"The model {model!r} is unavailable: {reason}",
        type="server_error",
        param="model",
        code="model_unavailable",
        headers={"Retry-After": str(retry_after)},
    )


def overloaded(model: str, retry_after: int) -> ApiError:
    return ApiError(
        503,
        f"The server is overloaded: the queue for {model!r} is full; retry shortly",
        type="server_error",
        code="overloaded",
        headers={"Retry-After": str(retry_after)},
    )


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "Incorrect or missing API key; send 'Authorization: Bearer <key>'",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def server_error(message: str) -> ApiError:
    return ApiError(500, message, type="server_error", code="internal_error")
