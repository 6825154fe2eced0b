"""What ``open_key_gate`` reads of the settings, for the gateway tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import GatewaySettings
from inference.config import BudgetConfig, CacheConfig, LedgerConfig

__all__ = ["GateSettings"]


@dataclass(frozen=True)
class GateSettings:
    """The sections ``open_key_gate`` reads (as on ``Settings``)."""

    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    cache: CacheConfig = field(default_factory=CacheConfig)
    budgets: BudgetConfig = field(default_factory=BudgetConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    data_dir: Path = Path("unused-the-tests-pass-a-database")

    @classmethod
    def with_redis(cls, url: str | None) -> GateSettings:
        return cls(gateway=GatewaySettings(redis_url=url))
