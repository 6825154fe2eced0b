"""A gateway replica shares node health through the gateway's Redis unless told otherwise."""

from __future__ import annotations

from pathlib import Path

from homecrew.replica_settings import replica_settings
from homecrew.settings import Settings


def settings(tmp_path: Path, **sections: object) -> Settings:
    return Settings.model_validate({
        "nodes": {"ollama": {"kind": "ollama", "base_url": "http://127.0.0.1:11434"}},
        "models": {"o": {"node": "ollama", "model": "qwen2.5:14b"}},
        "routes": {"local": ["o"]},
        "data_dir": str(tmp_path),
        **sections,
    })


def test_the_shared_health_url_defaults_to_the_gateways_then_the_caches(tmp_path: Path) -> None:
    assert replica_settings(settings(tmp_path)).health.shared_redis_url is None
    cache_only = settings(tmp_path, cache={"redis_url": "redis://127.0.0.1:6379/1"})
    assert replica_settings(cache_only).health.shared_redis_url == "redis://127.0.0.1:6379/1"
    both = settings(tmp_path, cache={"redis_url": "redis://127.0.0.1:6379/1"},
                    gateway={"redis_url": "redis://127.0.0.1:6379/2"})
    assert replica_settings(both).health.shared_redis_url == "redis://127.0.0.1:6379/2"
    own = settings(tmp_path, gateway={"redis_url": "redis://127.0.0.1:6379/2"},
                   health={"shared_redis_url": "redis://127.0.0.1:6379/3"})
    assert replica_settings(own).health.shared_redis_url == "redis://127.0.0.1:6379/3"
    assert replica_settings(both).cache.redis_url == "redis://127.0.0.1:6379/1"
