"""What ``open_key_gate`` reads of the settings, for the gateway tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config import GatewaySettings
from inference.config import BudgetConfig, CacheConfig

__all__ = ["GateSettings"]


@dataclass(frozen=True)
class GateSettings:
    """The ``gateway``, ``cache`` and ``budgets`` sections (as on ``Settings``)."""

    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    cache: CacheConfig = field(default_factory=CacheConfig)
    budgets: BudgetConfig = field(default_factory=BudgetConfig)

    @classmethod
    def with_redis(cls, url: str | None) -> GateSettings:
        return cls(gateway=GatewaySettings(redis_url=url))
