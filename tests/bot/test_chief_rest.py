"""Chief's posts from the command line through discord.py's REST client (no gateway)
against the Discord stand-in: channel lookup by name, embeds within Discord's limits, the
role mentioned only for critical alerts, and refusals quoting Discord's code and message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.chief_embeds import chief_embed
from bot.chief_poster import RestChiefPoster
from tests.support.discord_standin import (
    GatewayConnected,
    RoleSpec,
    SentMessage,
    StandinDiscord,
)
from tests.support.discord_standin.world import VIEW_CHANNEL
from watch.messages import Attachment, ChiefMessage, MessageField
from watch.poster import Poster, PostError


@pytest.fixture
async def discord() -> AsyncIterator[StandinDiscord]:
    async with StandinDiscord(patch_discord=False,
                              roles=(RoleSpec("admin", 8), RoleSpec("oncall"))) as standin:
        yield standin


def alert(*, mention: bool) -> ChiefMessage:
    return ChiefMessage(kind="red_alert", title="🚨 RED ALERT: mlx down", lines=("What: x",),
                        severity="critical", mention_role=mention,
                        fields=(MessageField("probe latency s", "2 s"),), timestamp=0.0)


async def test_posts_embeds_and_mentions_the_role_only_when_asked(
    discord: StandinDiscord,
) -> None:
    poster = RestChiefPoster(discord.token, discord.guild_id, api_base=discord.api_base,
                             role_name="oncall")
    assert isinstance(poster, Poster)
    async with poster:
        await poster.post("alerts", alert(mention=True))
        await poster.post("#chief", alert(mention=False))
        with pytest.raises(PostError, match="no text channel #nowhere"):
            await poster.post("nowhere", alert(mention=False))
    loud, quiet = discord.events(SentMessage)
    role = discord.role("oncall").id
    assert loud.channel_id == discord.channel_id("alerts")
    assert loud.content == f"<@&{role}>"
    assert loud.allowed_mentions is not None
    assert loud.allowed_mentions["parse"] == [] and loud.allowed_mentions["roles"] == [role]
    assert loud.embeds[0]["color"] == 0xE74C3C
    assert loud.embeds[0]["timestamp"].startswith("1970-01-01T00:00:00")
    assert quiet.channel_id == discord.channel_id("chief")
    assert quiet.content == ""
    assert quiet.allowed_mentions == {"parse": []}
    assert not discord.events(GatewayConnected), "REST only: no gateway connection"


async def test_a_huge_message_is_trimmed_to_discords_limits(discord: StandinDiscord) -> None:
    huge = ChiefMessage(kind="report", title="T" * 300, lines=("x" * 5000,), severity="info",
                        fields=tuple(MessageField(f"f{i}", "v" * 2000) for i in range(30)),
                        attachments=(Attachment("a.txt", b"hello", "text/plain"),))
    embed = chief_embed(huge)
    assert embed.title is not None and len(embed.title) == 256
    total = len(embed)
    assert total <= 6000 and 0 < len(embed.fields) < 25
    async with RestChiefPoster(discord.token, discord.guild_id,
                               api_base=discord.api_base) as poster:
        await poster.post("chief", huge)
    [sent] = discord.events(SentMessage)
    assert sent.files[0].data == b"hello"
    assert len(sent.embeds[0]["title"]) == 256


async def test_a_refused_post_quotes_discords_code_and_message() -> None:
    async with StandinDiscord(patch_discord=False, everyone_permissions=VIEW_CHANNEL,
                              bot_permissions=VIEW_CHANNEL) as discord:
        async with RestChiefPoster(discord.token, discord.guild_id,
                                   api_base=discord.api_base) as poster:
            with pytest.raises(PostError) as refused:
                await poster.post("chief", alert(mention=False))
        assert str(refused.value) == ("Discord refused Chief's post in #chief (HTTP 403, code "
                                      "50013: Missing Permissions)")
        with pytest.raises(PostError, match="refused the bot token") as bad_token:
            async with RestChiefPoster("wrong-SECRET", discord.guild_id,
                                       api_base=discord.api_base):
                pass
        assert "SECRET" not in str(bad_token.value)
