"""The ``gateway:`` section of ``homecrew.yaml``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="`homecrew bot` serves the gateway too")
    host: str = Field(default="127.0.0.1", description="address `homecrew serve` binds")
    port: int = Field(default=4000, ge=1, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024,
                                description="larger request bodies get a 413")
    redis_url: str | None = Field(
        default=None, description="Redis shared by replicas (rate limits, key budgets, "
        "health); default: cache.redis_url. Without one, limits are per replica")
