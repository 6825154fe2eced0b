"""Settings of a gateway replica: what it shares with the other replicas through Redis.

Several ``homecrew serve`` replicas behind one load balancer share node health (a node one
finds down is skipped by the others, :mod:`inference.shared_health`) through
``health.shared_redis_url``. A replica that leaves it unset uses the gateway's Redis:
``gateway.redis_url``, which itself defaults to ``cache.redis_url``. A process that serves
no gateway (the bot alone, a CLI command) shares health only when ``health.shared_redis_url``
says so.
"""

from __future__ import annotations

from gateway.gate import shared_redis_url
from homecrew.settings import Settings

__all__ = ["replica_settings"]


def replica_settings(settings: Settings) -> Settings:
    """``settings`` with ``health.shared_redis_url`` defaulted to the gateway's Redis."""
    if settings.health.shared_redis_url is not None:
        return settings
    url = shared_redis_url(settings)
    if url is None:
        return settings
    health = settings.health.model_copy(update={"shared_redis_url": url})
    return settings.model_copy(update={"health": health})
