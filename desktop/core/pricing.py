"""What a cloud answer cost: per-million-token prices by model id, and the arithmetic.

Prices are data (models/pricing.json, shipped; the user's own pricing.json overrides entries),
because providers change them more often than we release. Each entry carries the date it was
checked, shown next to the cost so an old price is visibly old. Local answers cost nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desktop.core.errors import LlamasideError


class PricingError(LlamasideError):
    pass


@dataclass(frozen=True)
class Price:
    #: US dollars per million prompt (input) tokens.
    input_per_million: float
    #: US dollars per million answer (output) tokens.
    output_per_million: float
    #: When this price was last checked against the provider's price page (YYYY-MM-DD).
    checked: str = ""

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1_000_000


class Pricing:
    """Prices keyed ``provider:model``. A dated snapshot id (``gpt-4o-2024-08-06``) takes the
    price of its longest listed prefix (``gpt-4o``), which is how providers name snapshots."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = dict(prices)

    def lookup(self, provider: str, model: str) -> Price | None:
        exact = self.prices.get(f"{provider}:{model}")
        if exact is not None:
            return exact
        best: tuple[int, Price] | None = None
        for key, price in self.prices.items():
            key_provider, _, key_model = key.partition(":")
            if key_provider != provider or not model.startswith(key_model):
                continue
            # "gpt-4o-mini" must not be priced as "gpt-4o": a prefix must end at a separator.
            rest = model[len(key_model) :]
            if rest and rest[0] not in "-_.@:":
                continue
            if best is None or len(key_model) > best[0]:
                best = (len(key_model), price)
        return best[1] if best else None

    def answer_cost(self, provider: str, model: str, prompt: int, output: int) -> dict[str, Any]:
        """What an answer's stored usage says of its cost: ``cost_usd`` (None when the model
        has no known price) and, with a price, the date it was checked."""
        price = self.lookup(provider, model)
        if price is None:
            return {"cost_usd": None}
        return {"cost_usd": price.cost(prompt, output), "price_checked": price.checked}

    def cost(self, provider: str, model: str, prompt: int, output: int) -> float | None:
        """Dollars for one answer, or None when the model has no known price."""
        price = self.lookup(provider, model)
        return None if price is None else price.cost(prompt, output)


def parse_pricing(data: Any, source: str) -> dict[str, Price]:
    """Entries of a pricing file: ``{"prices": {"openai:gpt-4o": {"input": 2.5, "output": 10,
    "checked": "2025-08-01"}}}``. A bad file is named with the entry that is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("prices"), dict):
        raise PricingError(f'{source}: expected an object with a "prices" object.')
    prices: dict[str, Price] = {}
    for key, raw in data["prices"].items():
        if ":" not in key:
            raise PricingError(f"{source}: {key!r} should be provider:model (e.g. openai:gpt-4o).")
        try:
            price = Price(float(raw["input"]), float(raw["output"]), str(raw.get("checked", "")))
        except (KeyError, TypeError, ValueError):
            raise PricingError(
                f'{source}: {key!r} needs numeric "input" and "output" prices '
                f"(dollars per million tokens)."
            ) from None
        if price.input_per_million < 0 or price.output_per_million < 0:
            raise PricingError(f"{source}: {key!r} has a negative price.")
        prices[key] = price
    return prices


def format_cost(dollars: float | None) -> str:
    """$0.0123 below a dollar (answers cost fractions of a cent), $1.23 from a dollar up."""
    if dollars is None:
        return "price unknown"
    if dollars == 0:
        return "$0"
    if dollars < 0.0001:
        return "<$0.0001"
    return f"${dollars:.4f}" if dollars < 1 else f"${dollars:,.2f}"
