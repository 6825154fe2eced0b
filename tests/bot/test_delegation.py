"""Skip's delegation in Discord: the plan, a thread per sub-task in the specialist's
channel, and the combined report back where the request was made."""

from __future__ import annotations

import json

import pytest

from tests.support.bot_harness import BotWorld
from tests.support.discord_standin import ThreadCreated
from tests.support.standins import Script

pytestmark = pytest.mark.timeout(60)

PLAN = json.dumps({"steps": [
    {"agent": "nellie", "task": "Find out what MLX is good for"},
    {"agent": "gonzo", "task": "Sketch the API for the model switcher"},
], "note": "research, then backend"})
NO_MORE = json.dumps({"steps": [], "note": "done"})


async def test_skip_posts_the_plan_hands_out_threads_and_reports_back(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    bot_world.node("skip").script = Script(reply=[PLAN, NO_MORE,
                                                  "Team report: MLX is fast; API sketched."])
    bot_world.node("nellie").script = Script(reply="MLX runs models on Apple silicon.")
    bot_world.node("gonzo").script = Script(reply="POST /models/switch {name}")
    replies = await bot_world.converse("skip", "Can we switch models from the dashboard?",
                                       timeout=30)

    plan, report = replies[0], replies[-1]
    assert plan.author_name == "Skip" and report.author_name == "Skip"
    assert plan.content.startswith("**Plan**")
    assert "**Nellie** — Find out what MLX is good for" in plan.content
    assert "**Gonzo** — Sketch the API for the model switcher" in plan.content
    assert plan.content.count("✅") == 2
    assert report.content == "Team report: MLX is fast; API sketched."

    threads = {discord.channel(t.parent_id).name: t for t in discord.events(ThreadCreated)}
    assert set(threads) == {"nellie", "gonzo"}
    for agent, text in (("nellie", "MLX runs models on Apple silicon."),
                        ("gonzo", "POST /models/switch {name}")):
        thread = threads[agent]
        assert f"<#{thread.thread_id}>" in plan.content
        shown = discord.channel_view(thread.thread_id)
        assert shown[0].author_name == "Skip"
        assert shown[0].content.startswith(f"**Task for {agent.capitalize()}** (asked by Alice")
        assert (shown[-1].author_name, shown[-1].content) == (agent.capitalize(), text)
    report_prompt = bot_world.prompt("skip")
    assert "MLX runs models on Apple silicon." in report_prompt


async def test_a_follow_up_in_a_sub_task_thread_has_the_task_in_context(
    bot_world: BotWorld,
) -> None:
    discord = bot_world.discord
    plan = json.dumps({"steps": [{"agent": "nellie", "task": "Compare MLX and llama.cpp"}],
                       "note": ""})
    bot_world.node("skip").script = Script(reply=[plan, NO_MORE, "Done: see Nellie's notes."])
    bot_world.node("nellie").script = Script(reply=["MLX wins on Apple silicon.",
                                                    "Mostly memory bandwidth."])
    await bot_world.converse("skip", "Which runtime should the Mac use?", timeout=30)
    thread = discord.events(ThreadCreated)[0]
    replies = await bot_world.converse(thread.thread_id, "why does it win?")
    assert (replies[-1].author_name, replies[-1].content) == ("Nellie", "Mostly memory bandwidth.")
    prompt = bot_world.prompt("nellie")
    assert "Compare MLX and llama.cpp" in prompt and "MLX wins on Apple silicon." in prompt


async def test_broken_plan_json_falls_back_to_keywords_and_says_so(bot_world: BotWorld) -> None:
    bot_world.node("skip").script = Script(reply=["not json", "still {not json",
                                                  "Here is what the team found."])
    bot_world.node("chief").script = Script(reply="CPU 12%, memory fine.")
    replies = await bot_world.converse("skip", "check the server cpu and memory health",
                                       timeout=30)
    plan = replies[0]
    assert "**Chief**" in plan.content and "(assigned by specialty keywords)" in plan.content
    assert replies[-1].content == "Here is what the team found."
