"""What a cloud answer cost: prices by model, from where they come, and the arithmetic.

Prices change more often than we release, so they are data, asked in this order: the user's
own pricing.json (their entries win), then maintained price sources (backends.prices: the
genai-prices package's data), then the list that ships with Llamaside. Every cost says where its
price came from and how old it is; a model with no known price says "price unknown", never $0.
Local answers cost nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from desktop.core.errors import LlamasideError
from desktop.core.usage import Usage


class PricingError(LlamasideError):
    """A pricing file that cannot be used; the message names the entry that is wrong."""

    pass


@dataclass(frozen=True)
class Price:
    """One model's price per million tokens, and when it was checked."""

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


@dataclass(frozen=True)
class Quote:
    """One answer's cost from a price source, and where it came from (shown beside it)."""

    dollars: float
    #: e.g. "genai-prices 0.2.5, checked to 2026-11-03", "your pricing.json".
    source: str
    #: The date the price was checked (YYYY-MM-DD), if the source says.
    checked: str = ""


class PriceSource(Protocol):
    """A maintained source of prices (backends.prices)."""

    def quote(self, provider: str, model: str, base_url: str, usage: Usage) -> Quote | None:
        """The answer's cost, or None when this source does not know the model."""
        ...


class Pricing:
    """Prices keyed ``provider:model`` (the user's and the shipped ones), and the maintained
    sources asked between them. A dated snapshot id (``gpt-4o-2024-08-06``) takes the price
    of its longest listed prefix (``gpt-4o``), which is how providers name snapshots."""

    def __init__(
        self,
        prices: dict[str, Price],
        *,
        overrides: dict[str, Price] | None = None,
        sources: tuple[PriceSource, ...] = (),
        overrides_label: str = "your pricing.json",
    ) -> None:
        #: The list that ships with Llamaside: asked last.
        self.prices = dict(prices)
        #: The user's own entries: asked first.
        self.overrides = dict(overrides or {})
        self.sources = sources
        self._overrides_label = overrides_label

    def quote(self, provider: str, model: str, usage: Usage, base_url: str = "") -> Quote | None:
        """What an answer cost and where the price came from; None when nobody knows it."""
        own = _lookup(self.overrides, provider, model)
        if own is not None:
            dollars = own.cost(usage.prompt_tokens, usage.output_tokens)
            return Quote(dollars, self._overrides_label, own.checked)
        for source in self.sources:
            quote = source.quote(provider, model, base_url, usage)
            if quote is not None:
                return quote
        shipped = self.lookup(provider, model)
        if shipped is None:
            return None
        dollars = shipped.cost(usage.prompt_tokens, usage.output_tokens)
        return Quote(dollars, "Llamaside's own list", shipped.checked)

    def answer_cost(
        self, provider: str, model: str, usage: Usage, base_url: str = ""
    ) -> dict[str, Any]:
        """What an answer's stored usage says of its cost: ``cost_usd`` (None when the model
        has no known price), where the price came from, and the date it was checked."""
        quote = self.quote(provider, model, usage, base_url)
        if quote is None:
            return {"cost_usd": None}
        return {
            "cost_usd": quote.dollars,
            "price_source": quote.source,
            "price_checked": quote.checked,
        }

    def lookup(self, provider: str, model: str) -> Price | None:
        """The shipped list's price (with the user's entries over it)."""
        return _lookup(self.overrides, provider, model) or _lookup(self.prices, provider, model)

    def cost(self, provider: str, model: str, prompt: int, output: int) -> float | None:
        """Dollars for one answer, or None when the model has no known price."""
        quote = self.quote(provider, model, Usage(prompt_tokens=prompt, output_tokens=output))
        return None if quote is None else quote.dollars


def _lookup(prices: dict[str, Price], provider: str, model: str) -> Price | None:
    exact = prices.get(f"{provider}:{model}")
    if exact is not None:
        return exact
    best: tuple[int, Price] | None = None
    for key, price in prices.items():
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


def cost_text(usage: dict[str, Any]) -> str:
    """A stored answer's cost with where its price came from: "$0.0012 (genai-prices 0.2.5,
    checked to 2026-11-03)", "$0.0100 (your pricing.json)", or "price unknown"."""
    dollars = usage.get("cost_usd")
    cost = format_cost(dollars)
    if dollars is None:
        return cost
    source = str(usage.get("price_source") or "")
    checked = str(usage.get("price_checked") or "")
    notes = [source] if source else []
    if checked and checked not in source:
        notes.append(f"price of {checked}")
    return f"{cost} ({', '.join(notes)})" if notes else cost


def format_cost(dollars: float | None) -> str:
    """$0.0123 below a dollar (answers cost fractions of a cent), $1.23 from a dollar up."""
    if dollars is None:
        return "price unknown"
    if dollars == 0:
        return "$0"
    if dollars < 0.0001:
        return "<$0.0001"
    return f"${dollars:.4f}" if dollars < 1 else f"${dollars:,.2f}"
