"""Slash commands as a user sees them: synced once to the guild, acknowledged within
Discord's 3 seconds, answered in plain words."""

from __future__ import annotations

import pytest

from inference.report import spend_report
from inference.types import ChatRequest, Message
from tests.support.bot_harness import BotWorld
from tests.support.discord_standin import (
    FollowUp,
    GatewayIdentified,
    InteractionResponse,
    OptionValue,
    SentMessage,
    StoredInteraction,
)
from tests.support.standins import Script

pytestmark = pytest.mark.timeout(60)
COMMANDS = {"agents", "ask", "halt", "resume", "retry", "route", "spend", "status", "stop",
            "task", "tools"}
PNG = b"\x89PNG\r\n\x1a\n"


async def _answer(world: BotWorld, interaction: StoredInteraction) -> FollowUp:
    return await world.discord.wait_for_event(
        FollowUp, lambda f: f.interaction_id == interaction.id, timeout=10)


async def test_commands_are_synced_once_to_the_guild_never_globally(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    mark = await discord.drop_gateway()
    await discord.wait_resumed(since=mark)
    mark = discord.mark()
    await discord.invalidate_session(resumable=False)
    await discord.wait_for_event(GatewayIdentified, since=mark, timeout=15)
    await bot_world.converse("nellie", "still here?")
    syncs = discord.command_syncs("guild")
    assert len(syncs) == 1 and set(syncs[0].names) == COMMANDS
    assert syncs[0].guild_id == discord.guild_id
    assert discord.command_syncs("global") == []


async def test_stop_cancels_the_reply_in_progress(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    bot_world.node("nellie").script = Script(reply="word " * 400, chunk_chars=5,
                                             chunk_delay=0.05)
    asked = await discord.user_message("nellie", "alice", "tell me everything")
    await discord.wait_for_event(SentMessage, lambda m: m.username == "Nellie")
    stop = await discord.slash_command("stop", user="bob", channel_id="nellie")
    response = await discord.wait_for_response(stop)
    await bot_world.settled(asked)
    assert (response.response_type, response.ephemeral) == (4, True)
    assert response.data["content"] == "Stopped Nellie's reply."
    final = bot_world.answers("nellie", after=asked.id)[-1].content
    assert final.endswith("_(stopped: stopped by Bob)_")
    assert final.count("word") < 400  # cut short: the whole reply would take ~20 s
    again = await discord.slash_command("stop", user="bob", channel_id="nellie")
    nothing = await discord.wait_for_response(again)
    assert nothing.data["content"] == "Nothing is being written here right now."


async def test_retry_writes_the_last_reply_again_without_the_cache(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    bot_world.node("jax").script = Script(reply=["First draft.", "Second draft."])
    first = await bot_world.converse("jax", "write a tagline")
    retry = await discord.slash_command("retry", user="alice", channel_id="jax")
    follow = await _answer(bot_world, retry)
    assert follow.content == "Asking Jax to answer again." and follow.ephemeral
    await bot_world.idle()
    shown = [m.content for m in bot_world.answers("jax") if m.author_name == "Jax"]
    assert shown == ["First draft.", "Second draft."]
    assert first[-1].content == "First draft."
    assert bot_world.calls("jax") == 2
    assert "write a tagline" in bot_world.prompt("jax")
    nothing = await discord.slash_command("retry", user="alice", channel_id="cleo")
    assert (await _answer(bot_world, nothing)).content == "There is no reply here to write again."


async def test_status_is_an_ephemeral_embed_of_nodes_routes_cache_and_local_share(
    bot_world: BotWorld,
) -> None:
    await bot_world.converse("cleo", "warm up")
    status = await bot_world.discord.slash_command("status", user="alice", channel_id="skip")
    response = await bot_world.discord.wait_for_response(status)
    follow = await _answer(bot_world, status)
    # deferred in time: the stand-in refuses callbacks past Discord's 3 s window
    assert response.response_type == 5
    assert follow.ephemeral
    embed = follow.embeds[0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert set(fields) >= {"Nodes", "Routes", "Cache", "Today"}
    assert "🟢 **cleo-node** closed" in fields["Nodes"]
    assert "· native" in fields["Nodes"]  # a local node, spoken to by the native client
    assert "**cleo-frontend**: now cleo-local" in fields["Routes"]
    assert fields["Cache"].startswith("memory · hit rate")
    assert "local share 100%" in fields["Today"]
    assert bot_world.discord.channel_view("skip") == []


async def test_spend_has_the_ledger_numbers_and_a_png_chart(bot_world: BotWorld) -> None:
    for agent in ("nellie", "gonzo", "gonzo"):
        await bot_world.converse(agent, f"question for {agent}")
    spend = await bot_world.discord.slash_command("spend", {"period": "24h", "by": "agent"},
                                                  "alice", "chief")
    follow = await _answer(bot_world, spend)
    report = await spend_report(await bot_world.ctx.stack.database(), since=0, by="agent")
    assert follow.files[0].filename == "spend.png"
    assert follow.files[0].data.startswith(PNG)
    embed = follow.embeds[0]
    assert embed["title"] == "Spend — last 24h, by agent"
    assert f"**{report.total.answered}** answered" in embed["description"]
    assert report.total.answered == 3
    by_agent = embed["fields"][0]["value"]
    assert "**gonzo**: 2 answered · local 100%" in by_agent
    assert "**nellie**: 1 answered" in by_agent
    bad = await bot_world.discord.slash_command("spend", {"period": "soon"}, "alice", "chief")
    refused = await bot_world.discord.wait_for_response(bad)
    assert refused.ephemeral
    assert refused.data["content"].startswith("Sorry: expected a period like 30m")


async def test_spend_by_key_separates_api_keys_from_the_bots_own_traffic(
    bot_world: BotWorld,
) -> None:
    await bot_world.converse("nellie", "a question in Discord")
    stack = bot_world.ctx.stack
    for text in ("from a script", "from an editor"):  # what `homecrew serve` records
        await stack.complete(ChatRequest(route="nellie-research", key_name="ci-script",
                                         messages=[Message("user", text)]))
    spend = await bot_world.discord.slash_command("spend", {"period": "24h", "by": "key"},
                                                  "alice", "chief")
    embed = (await _answer(bot_world, spend)).embeds[0]
    assert embed["title"] == "Spend — last 24h, by key"
    by_key = embed["fields"][0]["value"]
    assert "**ci-script**: 2 answered" in by_key
    assert "**-**: 1 answered" in by_key


async def test_agents_route_and_ask(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    agents = await discord.slash_command("agents", user="alice", channel_id="skip")
    listed = (await discord.wait_for_response(agents)).data["embeds"][0]["fields"]
    assert [f["name"].split(" — ")[0] for f in listed] == [
        "Skip", "Nellie", "Chief", "Gonzo", "Cleo", "Jax"]
    route = await discord.slash_command("route", {"name": "nellie-research"}, "alice", "skip",
                                        subcommand="show")
    shown = (await discord.wait_for_response(route)).data["embeds"][0]
    assert "✅ **nellie-local** on nellie-node" in shown["description"]
    unknown = await discord.slash_command("route", {"name": "nope"}, "alice", "skip",
                                          subcommand="show")
    answer = (await discord.wait_for_response(unknown)).data["content"]
    assert answer.startswith("There is no route 'nope'; the routes are smart-agent")
    ask = await discord.slash_command("ask", {"agent": "gonzo", "prompt": "size of a VM?"},
                                      "alice", "cleo")
    echo = await discord.wait_for_response(ask)
    assert echo.data["content"] == "**Alice** asked **Gonzo**: size of a VM?"
    await discord.wait_for_event(SentMessage, lambda m: m.username == "Gonzo")
    await bot_world.idle()
    assert bot_world.answers("cleo")[-1].content == "Gonzo here: all good."
    nobody = await discord.slash_command("ask", {"agent": "zed", "prompt": "hi"}, "alice", "cleo")
    refused = (await discord.wait_for_response(nobody)).data["content"]
    assert refused.startswith("I don't know an agent called 'zed'; the team is skip, nellie")


async def test_every_command_is_acknowledged_within_three_seconds(bot_world: BotWorld) -> None:
    discord = bot_world.discord
    await bot_world.converse("nellie", "something to retry")
    runs: list[tuple[str, dict[str, OptionValue], str | None]] = [
        ("status", {}, None), ("spend", {}, None), ("agents", {}, None),
        ("task", {}, "list"), ("task", {"task_id": 99}, "show"),
        ("route", {"name": "smart-agent"}, "show"), ("stop", {}, None),
        ("retry", {}, None), ("halt", {"reason": "test"}, None), ("resume", {}, None),
        ("tools", {}, None)]
    for name, options, sub in runs:
        interaction = await discord.slash_command(name, options, "alice", "nellie",
                                                  subcommand=sub)
        await discord.wait_for_response(interaction)
    await bot_world.idle()
    responses = discord.events(InteractionResponse)
    assert len(responses) == len(runs)
    # each answered in time: the stand-in refuses callbacks past Discord's 3 s window
    deferred = {r.interaction_id for r in responses if r.response_type == 5}
    await discord.wait_until(lambda: deferred <= {f.interaction_id
                                                  for f in discord.events(FollowUp)})
    missing = await discord.wait_for_event(
        FollowUp, lambda f: f.content == "There is no task #99.")
    assert not missing.ephemeral
