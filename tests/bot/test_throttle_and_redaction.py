"""The edit throttle's pacing and the redactor's masking, on their own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from bot.config import DiscordSettings
from bot.redaction import MASK, RedactingFilter, Redactor, secrets_of
from bot.throttle import EditThrottle, TokenBucket
from tests.support.waiting import wait_until


def _count_is(items: list[int], count: int) -> Callable[[], bool]:
    return lambda: len(items) == count


async def test_token_bucket_paces_after_the_burst() -> None:
    # The bucket's clock is ours: however slow or fast the machine, tokens appear only as
    # we move it (1/16 s steps are exact in binary).
    now = [0.0]
    bucket = TokenBucket(rate=16, burst=2, clock=lambda: now[0])
    done: list[int] = []

    async def take(i: int) -> None:
        await bucket.acquire()
        done.append(i)

    takers = [asyncio.create_task(take(i)) for i in range(6)]
    await wait_until(lambda: bucket.waited >= 3 / 16, what="the third caller to wait a while")
    assert done == [0, 1]  # the burst at once; nothing more while the clock stands still
    for passed in range(3, 7):  # one more token every 1/16 s
        now[0] += 1 / 16
        await wait_until(_count_is(done, passed), what=f"{passed} callers through")
    await asyncio.gather(*takers)
    assert done == list(range(6))  # in arrival order


async def test_edit_throttle_shares_one_budget_across_channels() -> None:
    now = [0.0]
    throttle = EditThrottle(per_second=10, channel_per_second=100, channel_burst=100,
                            clock=lambda: now[0])
    done: list[int] = []

    async def edit(channel: int) -> None:
        await throttle.acquire(channel)
        done.append(channel)

    edits = [asyncio.create_task(edit(channel)) for channel in range(25)]
    await wait_until(lambda: throttle.waited >= 0.3, what="edits waiting for the bot's budget")
    assert len(done) == 10  # 10 at once across 25 channels, though each channel has room
    now[0] += 1.0
    await wait_until(lambda: len(done) == 20, what="10 more after a second")
    now[0] += 0.5
    await asyncio.gather(*edits)
    assert sorted(done) == list(range(25))


def test_bad_bucket_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)


def test_secrets_are_found_in_settings_and_environment() -> None:
    settings = DiscordSettings(token=SecretStr("discord-token-123"))
    env = {"ANTHROPIC_API_KEY": "sk-ant-secret", "DATABASE_URL": "postgresql://u:pw-999@h/db",
           "HOME": "/root", "SHORT_TOKEN": "abc"}
    found = secrets_of(settings, env)
    assert found == {"discord-token-123", "sk-ant-secret", "pw-999"}


def test_redactor_masks_text_and_log_records(caplog: pytest.LogCaptureFixture) -> None:
    redact = Redactor(["sk-ant-secret", "discord-token-123"])
    assert redact("key=sk-ant-secret token discord-token-123") == f"key={MASK} token {MASK}"
    logger = logging.getLogger("test.redaction")
    flt = RedactingFilter(redact)
    caplog.handler.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("calling with %s", "sk-ant-secret")
            try:
                raise RuntimeError("boom discord-token-123")
            except RuntimeError:
                logger.exception("failed")
    finally:
        caplog.handler.removeFilter(flt)
    assert "sk-ant-secret" not in caplog.text
    assert "discord-token-123" not in caplog.text
    assert MASK in caplog.text
