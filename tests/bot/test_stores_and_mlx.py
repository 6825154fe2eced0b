"""The bot on real services: PostgreSQL and Redis behind the engine and the cache, and a
real (tiny) MLX server as an agent's node."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bot_harness import WorldOptions, homecrew_world
from tests.support.standins import Script
from tests.support.tiny_mlx import MlxLmServer

pytestmark = pytest.mark.timeout(120)


async def test_postgres_and_redis_keep_context_across_restarts_and_serve_cache_hits(
    tmp_path: Path, pg_database_url: str, redis_url: str,
) -> None:
    options = WorldOptions(database_url=pg_database_url, redis_url=redis_url,
                           discord={"footer_channels": ["*"]})
    async with homecrew_world(tmp_path, options) as world:
        world.node("nellie").script = Script(reply=["Noted: the NAS is called vault.",
                                                    "It is called vault."])
        await world.converse("nellie", "our NAS is called vault")
        await world.restart()
        replies = await world.converse("nellie", "what is the NAS called?")
        assert replies[-1].content.startswith("It is called vault.\n\n-# nellie-node")
        assert "our NAS is called vault" in world.prompt("nellie")
        assert world.ctx.stack.cache.backend == "redis"
        # Same question in a fresh thread: same prompt, so Redis answers it.
        first = await world.user_thread("cleo", "one")
        second = await world.user_thread("cleo", "two")
        world.node("cleo").script = Script(reply="Blue buttons.")
        await world.converse(first.id, "button colour?")
        cached = await world.converse(second.id, "button colour?")
        assert world.calls("cleo") == 1
        assert cached[-1].content.startswith("Blue buttons.\n\n-# cleo-node · cleo-local")
        assert "cached" in cached[-1].content.splitlines()[-1]
        assert world.ctx.engine.board.db.dialect == "postgres"


async def test_an_agent_served_by_a_real_mlx_server_streams_into_discord(
    tmp_path: Path, mlx_server: MlxLmServer,
) -> None:
    options = WorldOptions(nodes={"jax": (mlx_server.base_url, mlx_server.model_id)},
                           team={"reply_reserve_tokens": 64, "default_context_window": 1024},
                           timeouts={"first_token": 20, "total": 60},
                           discord={"footer_channels": ["jax"]})
    async with homecrew_world(tmp_path, options) as world:
        replies = await world.converse("jax", "write a haiku about homelabs", timeout=90)
    assert all(m.author_name == "Jax" for m in replies)
    body = "".join(m.content for m in replies)
    assert body.strip()
    assert replies[-1].content.splitlines()[-1].startswith("-# jax-node · jax-local · ")
