"""Ask a model for JSON against a schema, validate it, retry once, then give up cleanly.

Small local models often wrap JSON in prose or code fences, or break it. The request
carries ``response_format`` (a JSON Schema: constrained output on nodes that support it);
the reply is parsed leniently (the first ``{...}`` block), validated by the caller's
``parse``, and on failure asked for once more with the error. The caller decides what a
failure means (Skip falls back to keyword assignment).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from inference.errors import InferenceError
from inference.types import ChatRequest, Message, ReplyDone

__all__ = ["Structured", "ask_structured", "extract_json", "json_schema_format"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Structured(Generic[T]):
    value: T | None
    attempts: int
    errors: tuple[str, ...]
    calls: tuple[ReplyDone, ...]


def json_schema_format(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema",
            "json_schema": {"name": name, "schema": dict(schema), "strict": True}}


def extract_json(text: str) -> Any:
    """The JSON value in ``text``: the whole text, else its first ``{...}`` block."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    start, end = stripped.find("{"), stripped.rfind("}")
    if start == -1 or end <= start:
        raise ValueError("no JSON object in the reply")
    return json.loads(stripped[start : end + 1])


async def ask_structured(
    complete: Callable[[ChatRequest], Awaitable[ReplyDone]],
    request: ChatRequest,
    parse: Callable[[Any], T],
    *,
    retries: int = 1,
) -> Structured[T]:
    """``parse`` turns decoded JSON into ``T`` or raises ``ValueError`` saying what is wrong."""
    errors: list[str] = []
    calls: list[ReplyDone] = []
    messages = list(request.messages)
    for attempt in range(1, retries + 2):
        try:
            done = await complete(replace(request, messages=tuple(messages)))
        except InferenceError as exc:
            errors.append(f"attempt {attempt}: {exc}")
            continue
        calls.append(done)
        try:
            value = parse(extract_json(done.text))
        except ValueError as exc:
            errors.append(f"attempt {attempt}: {_short(exc)}")
            messages += [
                Message("assistant", done.text[:2000]),
                Message("user", f"That was not valid: {_short(exc)}. Answer again with the "
                                "JSON object only, exactly as the schema says."),
            ]
            continue
        return Structured(value, attempt, tuple(errors), tuple(calls))
    return Structured(None, retries + 1, tuple(errors), tuple(calls))


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:300]
