"""Errors of the gateway, each an HTTP status, rendered in the shape of the API that was
called (OpenAI's ``{"error": {...}}`` or Anthropic's ``{"type": "error", "error": {...}}``).

Hierarchy::

    GatewayError                      status, OpenAI type / Anthropic type
    ├── BadRequest          400       names the field (``param``)
    │   └── Unsupported     400       a parameter homecrew does not support (e.g. n > 1)
    ├── Unauthorized        401       no key, or an unknown / revoked one
    ├── Forbidden           403       the key is not scoped to this route
    ├── ModelNotFound       404       lists the valid names
    ├── BodyTooLarge        413       over ``gateway.max_body_bytes``
    ├── RateLimited         429       ``retry_after`` seconds (sent as ``Retry-After``)
    └── NoStepAnswered      503       every step failed; lists each step and why

    KeyStoreError                     managing API keys (``homecrew keys``): no HTTP answer
    ├── InvalidKeySpec                a bad name, unknown routes, a negative limit (``field``)
    ├── DuplicateKeyName              a key by that name exists (revoked keys keep their names)
    └── UnknownKeyName                no key by that name

Inference errors are mapped to these once, at the handlers' edge (``gateway.calls``).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BadRequest",
    "BodyTooLarge",
    "DuplicateKeyName",
    "Forbidden",
    "GatewayError",
    "InvalidKeySpec",
    "KeyStoreError",
    "ModelNotFound",
    "NoStepAnswered",
    "RateLimited",
    "Unauthorized",
    "UnknownKeyName",
    "Unsupported",
]


class GatewayError(Exception):
    """An error answer: ``status``, the OpenAI ``openai_type`` and ``anthropic_type``,
    the offending ``param`` (if any) and extra response ``headers``."""

    status = 500
    openai_type = "server_error"
    anthropic_type = "api_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    @property
    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class Unsupported(BadRequest):
    """A parameter (or value) homecrew does not support: named, never silently ignored."""

    def __init__(self, param: str, why: str) -> None:
        super().__init__(f"{param}: {why}", param=param)


class Unauthorized(GatewayError):
    status = 401
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"


class Forbidden(GatewayError):
    status = 403
    openai_type = "permission_error"
    anthropic_type = "permission_error"


class ModelNotFound(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"

    def __init__(self, model: str, valid: Sequence[str]) -> None:
        super().__init__(f"unknown model {model!r}; valid: {', '.join(valid) or '(none)'}",
                         param="model")
        self.valid = tuple(valid)


class BodyTooLarge(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes (gateway.max_body_bytes)")


class RateLimited(GatewayError):
    status = 429
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(self.retry_after + 0.499)))}


class NoStepAnswered(GatewayError):
    status = 503
    openai_type = "service_unavailable"
    anthropic_type = "overloaded_error"


class KeyStoreError(Exception):
    """Creating, listing or revoking API keys failed (a usage error of ``homecrew keys``)."""


class InvalidKeySpec(KeyStoreError):
    """A key's name or limits are invalid; ``field`` names the offending one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class DuplicateKeyName(KeyStoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a key named {name!r} exists already (revoked keys keep their "
                         "names, so the ledger's spend by key stays unambiguous)")
        self.name = name


class UnknownKeyName(KeyStoreError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"no key named {name!r}; keys: {', '.join(known) or '(none)'}")
        self.name = name
