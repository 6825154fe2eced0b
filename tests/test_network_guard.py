"""The autouse guard: tests may only reach loopback addresses."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.support.network_guard import NetworkGuardError


def test_non_loopback_connect_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(NetworkGuardError):
        sock.connect(("203.0.113.7", 80))  # TEST-NET-3: documentation-only range


def test_name_resolution_is_refused() -> None:
    with pytest.raises(NetworkGuardError):
        socket.getaddrinfo("example.com", 443)


async def test_http_clients_are_stopped_too() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - anyio may wrap it in a group
            await client.get("http://203.0.113.7/")
    assert _mentions_guard(caught.value)


def _mentions_guard(exc: BaseException) -> bool:
    if isinstance(exc, NetworkGuardError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_mentions_guard(e) for e in exc.exceptions)
    nested = exc.__cause__ or exc.__context__
    return nested is not None and _mentions_guard(nested)


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
