"""Configured HTTP endpoints (e.g. the Skip Dashboard): expected status and latency."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from watch.checks._base import describe_http_error, grade, ms, timed
from watch.results import Breach, CheckResult, Status
from watch.settings import HttpEndpoint

__all__ = ["HttpEndpointCheck"]


class HttpEndpointCheck:
    def __init__(self, endpoint: HttpEndpoint, client: httpx.AsyncClient) -> None:
        self._endpoint = endpoint
        self._client = client
        self.name = f"http/{endpoint.name}"
        self.subject = f"http:{endpoint.name}"
        self.timeout_s = endpoint.timeout_s
        self.failure_status = Status.parse(endpoint.severity)

    async def run(self) -> Sequence[CheckResult]:
        endpoint = self._endpoint
        elapsed = timed()
        try:
            response = await self._client.request(endpoint.method, endpoint.url,
                                                  timeout=endpoint.timeout_s * 0.9)
        except httpx.HTTPError as exc:
            return [self._result(self.failure_status,
                                 f"{endpoint.name} unreachable: {describe_http_error(exc)}",
                                 None)]
        latency = elapsed()
        if response.status_code not in endpoint.expect_status:
            expected = "/".join(str(s) for s in endpoint.expect_status)
            return [self._result(self.failure_status, f"{endpoint.name} answered HTTP "
                                 f"{response.status_code} (expected {expected})", latency)]
        slow = grade(f"{endpoint.name} latency", latency, warn=endpoint.max_latency_s)
        if slow.breach is not None:
            return [self._result(Status.WARN, f"{endpoint.name} slow: {ms(latency)} "
                                 f"(limit {ms(endpoint.max_latency_s)})", latency,
                                 (slow.breach,))]
        return [self._result(Status.OK, f"{endpoint.name} HTTP {response.status_code} in "
                             f"{ms(latency)}", latency)]

    def _result(self, status: Status, message: str, latency: float | None,
                breaches: tuple[Breach, ...] = ()) -> CheckResult:
        numbers = {"latency_s": latency} if latency is not None else {}
        return CheckResult(self.name, self.name, status, message, self.subject, latency,
                           numbers, breaches)
