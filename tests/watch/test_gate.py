"""Chief's deployment veto with real data: a deploy task is vetoed while the watch has an
incident open and allowed after recovery; a critical incident can halt Production."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homecrew.compose import halt_production
from inference.runtime import InferenceStack
from team.actors import Actor
from team.board import TaskBoard
from team.chief import ChiefCheck
from team.engine import TeamEngine
from team.errors import Refused
from tests.support.standins import AnthropicStandin, OllamaStandin, OpenAIStandin
from tests.watch.helpers import Clock, RecordingPoster, make_settings
from watch.engine import Watch
from watch.gate import ChiefClearance

ANA = Actor.person("ana")
CHIEF, GONZO, CLEO = Actor.agent("chief"), Actor.agent("gonzo"), Actor.agent("cleo")


async def deploy_ready(board: TaskBoard) -> int:
    task = await board.create(ANA, kind="deploy", owner="chief", title="Upgrade Ollama")
    for state in ("implementation", "review"):
        assert (await board.request(ANA, task.id, state)).allowed
    await board.attach(ANA, task.id, "docs", "# Runbook")
    await board.sign(GONZO, task.id, signer="gonzo", topic="security")
    await board.sign(CLEO, task.id, signer="cleo", topic="responsiveness")
    return task.id


async def sweeps(watch: Watch, clock: Clock, count: int) -> None:
    for _ in range(count):
        await watch.sweep(clock.advance(60))
    await watch.drain()


async def test_deploy_vetoed_while_an_incident_is_open_and_allowed_after(
    tmp_path: Path, mlx: OpenAIStandin, ollama: OllamaStandin, claude: AnthropicStandin,
) -> None:
    settings = make_settings(mlx_url=mlx.base_url, ollama_url=ollama.base_url,
                             anthropic_url=claude.base_url, data_dir=tmp_path,
                             watch={"incidents": {"auto_halt_on_critical": True}})
    clock, poster = Clock(), RecordingPoster()
    async with (
        InferenceStack.open(settings) as stack,
        Watch.open(settings, settings.watch, stack=stack, poster=poster, clock=clock,
                   schedule=False) as watch,
        TeamEngine.open(stack, settings.team, chief=ChiefClearance(watch)) as team,
    ):
        assert isinstance(ChiefClearance(watch), ChiefCheck)
        watch.on_critical = halt_production(team.board)
        board = team.board
        await sweeps(watch, clock, 2)
        tid = await deploy_ready(board)

        await ollama.stop()
        async with asyncio.timeout(10):
            await stack.board.wait_for(lambda b: not b.get("ollama").up)
        await sweeps(watch, clock, 3)
        assert poster.kinds("alerts") == ["red_alert"]
        assert team.halt_state.active
        assert team.halt_state.reason.startswith("RED ALERT: ollama")
        with pytest.raises(Refused, match="alert open: node:ollama"):
            await board.sign(CHIEF, tid, signer="chief", topic="deploy")

        await ollama.start()
        async with asyncio.timeout(10):
            await stack.board.wait_for(lambda b: b.get("ollama").up)
        await sweeps(watch, clock, 2)
        assert poster.kinds("alerts") == ["red_alert", "all_clear"]
        await board.resume(CHIEF, "ollama is back")
        await board.sign(CHIEF, tid, signer="chief", topic="deploy")
        assert (await board.ship(ANA, tid)).allowed
