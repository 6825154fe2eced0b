"""What a step costs, and what local tokens would have cost in the cloud."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from inference.config import InferenceSettings, ModelConfig, NodeConfig, Price

__all__ = ["Cost", "PriceLookup", "Pricing"]

PriceLookup = Callable[[NodeConfig, ModelConfig], Price | None]


@dataclass(frozen=True, slots=True)
class Cost:
    usd: float
    cloud_equivalent_usd: float


def _charge(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float:
    if price is None:
        return 0.0
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


class Pricing:
    """Config price overrides first, then the provider price map (``lookup``)."""

    def __init__(self, settings: InferenceSettings, lookup: PriceLookup) -> None:
        self._settings = settings
        self._lookup = lookup
        self._reference = self._reference_price()

    def price_of(self, alias: str) -> Price | None:
        model = self._settings.models[alias]
        if model.price is not None:
            return model.price
        return self._lookup(self._settings.nodes[model.node], model)

    def cost(self, alias: str, prompt_tokens: int, completion_tokens: int) -> Cost:
        if self._settings.node_of(alias).is_cloud:
            usd = _charge(self.price_of(alias), prompt_tokens, completion_tokens)
            return Cost(usd=usd, cloud_equivalent_usd=usd)
        return Cost(0.0, _charge(self._reference, prompt_tokens, completion_tokens))

    def embedding_cost(self, alias: str, prompt_tokens: int) -> Cost:
        """An embedding call: a cloud model's input price; a local one costs nothing and,
        having no cloud reference of its kind (the reference model is a chat model), is
        worth nothing in the cloud either."""
        if self._settings.node_of(alias).is_cloud:
            usd = _charge(self.price_of(alias), prompt_tokens, 0)
            return Cost(usd=usd, cloud_equivalent_usd=usd)
        return Cost(0.0, 0.0)

    def _reference_price(self) -> Price | None:
        name = self._settings.ledger.reference_model
        if name in self._settings.models:
            return self.price_of(name)
        as_anthropic = ModelConfig(node="reference", model=name)
        return self._lookup(NodeConfig(kind="anthropic"), as_anthropic)
