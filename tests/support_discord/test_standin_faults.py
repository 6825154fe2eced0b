"""The stand-in's faults on demand: REST answers, dropped connections, a refused gateway."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.discord_standin import StandinDiscord
from tests.support.discord_standin.faults import FaultRule

pytestmark = pytest.mark.timeout(30)


async def test_a_route_fails_as_told_then_answers_again(discord_standin: StandinDiscord) -> None:
    api = discord_standin.api_base
    auth = {"Authorization": f"Bot {discord_standin.token}"}
    rule = discord_standin.fail_rest("GET /users/@me", status=503, code=0,
                                     message="upstream connect error", count=2)
    async with aiohttp.ClientSession(headers=auth) as http:
        for _ in range(2):
            async with http.get(f"{api}/users/@me") as failed:
                assert failed.status == 503
                assert await failed.json() == {"message": "upstream connect error", "code": 0}
        async with http.get(f"{api}/users/@me") as ok:
            assert ok.status == 200
        discord_standin.fail_rest("GET /users/@me", status=200, body={"odd": True})
        async with http.get(f"{api}/users/@me") as odd:
            assert await odd.json() == {"odd": True}
        discord_standin.clear_faults()
        discord_standin.fail_rest("*", reset=True)
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"{api}/users/@me"):
                pass
        with pytest.raises(aiohttp.ClientError):
            async with http.ws_connect(discord_standin.gateway_url):
                pass
    assert rule.hits == 2


def test_a_timed_fault_ends_by_itself() -> None:
    rule = FaultRule("*", until=10.0)
    assert rule.live(9.9) and not rule.live(10.0)
    counted = FaultRule("*", remaining=0)
    assert not counted.live(0.0)
