"""The ledger record: one per attempt (served, failed, cancelled or cache hit).

``outcome`` is ``ok``, ``cache_hit``, ``cancelled`` (the caller stopped reading, or the
attempt lost a hedge: ``error`` says which; its tokens, if any, are its own cost) or the
failing step error's ``kind`` (``timeout``, ``unavailable``, ``rejected``, …).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import TypeAdapter

__all__ = ["FanOut", "LedgerRecord", "RecordSink"]


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    ts: float
    route: str
    node: str
    model: str
    upstream_model: str
    agent: str | None = None
    key_name: str | None = None  # the gateway API key of the call ("local" without keys)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cloud_equivalent_usd: float = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    cache_hit: bool = False
    fallback_depth: int = 0
    outcome: str = "ok"
    error: str | None = None
    cloud: bool = False
    tokens_estimated: bool = False
    record_id: str = field(default_factory=_new_id)

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.ts, UTC).strftime("%Y-%m-%d")

    def to_json(self) -> dict[str, Any]:
        # Every field is a scalar: a flat copy is what ``dataclasses.asdict`` gives, at a
        # fraction of its cost (it recurses and deep-copies; this runs once per request).
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    @classmethod
    def from_json(cls, data: object) -> LedgerRecord:
        """A record from its JSON form, checked field by field.

        Raises ``ValueError`` (a pydantic ``ValidationError``) when a field is missing or
        of the wrong type, or the record id is empty. Unknown keys are ignored.
        """
        record = _adapter().validate_python(data)
        if not record.record_id:
            raise ValueError("record_id is empty")
        return record


_FIELD_NAMES = tuple(f.name for f in fields(LedgerRecord))


@functools.cache
def _adapter() -> TypeAdapter[LedgerRecord]:
    return TypeAdapter(LedgerRecord)


class RecordSink(Protocol):
    """Takes records without blocking the reply path."""

    def record(self, record: LedgerRecord) -> None: ...


class FanOut:
    """A sink that hands every record to several sinks (ledger, budget keeper, metrics)."""

    def __init__(self, *sinks: RecordSink) -> None:
        self._sinks = list(sinks)

    def add(self, sink: RecordSink) -> None:
        self._sinks.append(sink)

    def record(self, record: LedgerRecord) -> None:
        for sink in self._sinks:
            sink.record(record)
