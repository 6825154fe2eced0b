"""Chief's watch inside the bot: its posts reach Discord under Chief's name, only the
critical role is ever pinged, and /alerts lists incidents."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bot_harness import WorldOptions, homecrew_world
from tests.support.discord_standin import FollowUp, SentMessage
from watch.messages import Attachment, ChiefMessage, MessageField

pytestmark = pytest.mark.timeout(60)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_chief_posts_alerts_and_reports_through_the_bot(tmp_path: Path) -> None:
    options = WorldOptions(watch=True, extra={"watch": {"incidents": {"critical_role": "admin"}}})
    async with homecrew_world(tmp_path, options) as world:
        watch = world.ctx.watch
        assert watch is not None
        alert = ChiefMessage(kind="red_alert", title="RED ALERT: mlx down",
                             lines=("since 09:12 UTC", "smart-agent is on its backup"),
                             severity="critical", mention_role=True,
                             fields=(MessageField("probe", "refused"),))
        report = ChiefMessage(kind="report", title="Daily spend", lines=("local share 97%",),
                              severity="info", attachments=(Attachment("spend.png", PNG),),
                              image="spend.png")
        assert await watch.outbox.send(("alerts", "chief"), alert)
        assert await watch.post_report(report)
        listed = await world.discord.slash_command("alerts", user="alice", channel_id="chief")
        answer = await world.discord.wait_for_event(
            FollowUp, lambda f: f.interaction_id == listed.id)
        posts = [e for e in world.discord.events(SentMessage) if e.username == "Chief"]
    admin = world.discord.role("admin")
    alerts = [p for p in posts if p.embeds[0]["title"] == "RED ALERT: mlx down"]
    assert {world.discord.channel(p.channel_id).name for p in alerts} == {"alerts", "chief"}
    assert all(p.content == admin.mention for p in alerts)
    assert all(p.allowed_mentions == {"parse": [], "roles": [admin.id]} for p in alerts)
    daily = next(p for p in posts if p.embeds[0]["title"] == "Daily spend")
    assert daily.files[0].data == PNG
    assert daily.embeds[0]["image"]["url"] == "attachment://spend.png"
    assert daily.allowed_mentions == {"parse": []}
    assert answer.embeds[0]["description"] == "No incidents on record. All quiet."


async def test_a_refused_chief_post_logs_discords_code_and_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    async with homecrew_world(tmp_path, WorldOptions(watch=True)) as world:
        watch = world.ctx.watch
        assert watch is not None
        await world.ctx.webhooks.prepare(world.bot.get_channel(  # type: ignore[arg-type]
            world.discord.channel_id("alerts")))
        for hook in world.discord.state.live_webhooks(world.discord.channel_id("alerts")):
            hook.deleted = True  # someone removed the bot's webhooks in Discord
        note = ChiefMessage(kind="warning", title="disk at 91%", lines=("on the Mac Studio",),
                            severity="warning")
        with caplog.at_level("WARNING", logger="watch.poster"):
            assert not await watch.outbox.send(("alerts",), note)
    logged = [r.getMessage() for r in caplog.records]
    failures = [m for m in logged if "post to #alerts failed" in m]
    assert failures and all("(HTTP 404, code 10015: Unknown Webhook)" in f for f in failures)
