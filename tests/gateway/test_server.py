"""The server refuses a non-loopback address while no key exists."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.server import is_loopback, serving
from inference.errors import ConfigError


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("gateway.lan", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_no_keys_refuses_a_lan_address() -> None:
    with pytest.raises(ConfigError, match="no API keys"):
        async with serving(web.Application(), "0.0.0.0", 0, has_keys=False):
            pytest.fail("served")
