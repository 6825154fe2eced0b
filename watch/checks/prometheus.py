"""Prometheus instant queries (``GET /api/v1/query``) compared with thresholds.

Each configured query is one result (``prometheus/<name>``); for a vector, every series is
graded and the worst wins. An error answer, a malformed body or a timeout warns: Chief
cannot see the value, which is not the same as the value being bad.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import httpx

from watch.checks._base import Grade, describe_http_error, grade, timed
from watch.results import CheckResult, Status
from watch.settings import PrometheusCheckSettings, PrometheusQuery

__all__ = ["PrometheusCheck", "PrometheusError", "parse_query_answer"]


class PrometheusError(ValueError):
    """The answer was an error or not in Prometheus's documented shape."""


def parse_query_answer(body: Any) -> list[tuple[dict[str, str], float]]:
    """``(labels, value)`` per series of an instant-query answer (NaN series dropped)."""
    if not isinstance(body, dict):
        raise PrometheusError("answer is not a JSON object")
    if body.get("status") != "success":
        raise PrometheusError(str(body.get("error") or f"status {body.get('status')!r}"))
    data = body.get("data")
    if not isinstance(data, dict):
        raise PrometheusError("answer has no data object")
    kind, result = data.get("resultType"), data.get("result")
    series: list[Any]
    if kind in ("scalar", "string"):
        series = [{"metric": {}, "value": result}]
    elif kind == "vector" and isinstance(result, list):
        series = result
    else:
        raise PrometheusError(f"unsupported result type {kind!r}")
    out = []
    for item in series:
        try:
            labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            value = float(item["value"][1])
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            raise PrometheusError("malformed series in answer") from None
        if not math.isnan(value):
            out.append((labels, value))
    return out


class PrometheusCheck:
    name = "prometheus"
    subject = "prometheus"
    failure_status = Status.WARN

    def __init__(self, config: PrometheusCheckSettings, client: httpx.AsyncClient) -> None:
        assert config.url is not None
        self._url = config.url.rstrip("/") + "/api/v1/query"
        self._config = config
        self._client = client
        self.timeout_s = config.timeout_s

    async def run(self) -> Sequence[CheckResult]:
        return await asyncio.gather(*(self._one(q) for q in self._config.queries))

    async def _one(self, query: PrometheusQuery) -> CheckResult:
        key = f"prometheus/{query.name}"
        subject = f"prometheus:{query.name}"
        elapsed = timed()
        per_request = self._config.timeout_s * 0.8
        try:
            response = await self._client.get(
                self._url, params={"query": query.query, "timeout": f"{per_request:g}s"},
                timeout=per_request,
            )
            series = parse_query_answer(_json(response))
        except httpx.HTTPError as exc:
            return CheckResult(self.name, key, Status.WARN, f"{query.name}: Prometheus "
                               f"{describe_http_error(exc)}", subject)
        except PrometheusError as exc:
            return CheckResult(self.name, key, Status.WARN,
                               f"{query.name}: query failed: {exc}", subject, elapsed())
        latency = elapsed()
        if not series:
            status = Status.parse(query.when_empty)
            return CheckResult(self.name, key, status, f"{query.name}: no data", subject,
                               latency)
        graded = [(labels, value, _grade(query, value, labels)) for labels, value in series]
        labels, value, worst = max(graded, key=lambda item: (item[2].status, item[1]))
        where = _where(labels)
        message = f"{query.name}{' on ' + where if where else ''}: {value:g}{query.unit}"
        if worst.breach is not None:
            message += f" (threshold {worst.breach.threshold:g}{query.unit})"
        breaches = tuple(g.breach for _, _, g in graded if g.breach is not None)
        numbers = {"value": value, "series": float(len(series))}
        return CheckResult(self.name, key, worst.status, message, subject, latency, numbers,
                           breaches)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        if response.status_code >= 400:
            raise PrometheusError(f"HTTP {response.status_code}") from None
        raise PrometheusError("answer is not JSON") from None


def _grade(query: PrometheusQuery, value: float, labels: dict[str, str]) -> Grade:
    where = _where(labels)
    high = grade(query.name, value, warn=query.warn_above, critical=query.critical_above,
                 where=where)
    low = grade(query.name, value, warn=query.warn_below, critical=query.critical_below,
                below=True, where=where)
    return max(high, low, key=lambda g: g.status)


def _where(labels: dict[str, str]) -> str:
    for preferred in ("instance", "node", "job"):
        if preferred in labels:
            return labels[preferred]
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
