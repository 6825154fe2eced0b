"""The edit throttle's pacing and the redactor's masking, on their own."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from pydantic import SecretStr

from bot.config import DiscordSettings
from bot.redaction import MASK, RedactingFilter, Redactor, secrets_of
from bot.throttle import EditThrottle, TokenBucket


async def test_token_bucket_paces_after_the_burst() -> None:
    bucket = TokenBucket(rate=20, burst=2)
    started = time.monotonic()
    for _ in range(6):
        await bucket.acquire()
    took = time.monotonic() - started
    assert 0.17 <= took < 1.0  # 2 at once, then 4 at 20/s


async def test_edit_throttle_shares_one_budget_across_channels() -> None:
    throttle = EditThrottle(per_second=10, channel_per_second=100, channel_burst=100)
    started = time.monotonic()
    await asyncio.gather(*(throttle.acquire(channel) for channel in range(25)))
    assert time.monotonic() - started >= 1.3  # 10 at once, 15 more at 10/s


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
