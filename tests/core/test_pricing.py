"""Prices: lookup by provider and model (snapshots take their prefix's price), the arithmetic,
the shipped file, and a user's file that overrides it or is broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.backends.catalog_file import ensure_user_pricing, load_pricing
from desktop.core.pricing import (
    Price,
    Pricing,
    PricingError,
    cost_text,
    format_cost,
    parse_pricing,
)
from desktop.core.usage import Usage


def test_snapshots_take_the_longest_prefix_that_ends_at_a_separator() -> None:
    pricing = Pricing(
        {
            "openai:gpt-4o": Price(2.5, 10.0, "2025-08-01"),
            "openai:gpt-4o-mini": Price(0.15, 0.6, "2025-08-01"),
        }
    )
    assert pricing.lookup("openai", "gpt-4o-2024-08-06") == Price(2.5, 10.0, "2025-08-01")
    assert pricing.lookup("openai", "gpt-4o-mini-2024-07-18") == Price(0.15, 0.6, "2025-08-01")
    assert pricing.lookup("openai", "gpt-4omega") is None  # not a snapshot of gpt-4o
    assert pricing.lookup("together", "gpt-4o") is None  # another provider's price differs
    # 1,000 prompt tokens and 500 answer tokens of GPT-4o: $0.0025 + $0.005.
    assert pricing.cost("openai", "gpt-4o", 1000, 500) == pytest.approx(0.0075)
    assert pricing.cost("openai", "unknown", 1000, 500) is None


def test_costs_read_as_money() -> None:
    assert format_cost(None) == "price unknown"
    assert format_cost(0) == "$0"
    assert format_cost(0.00001) == "<$0.0001"
    assert format_cost(0.0075) == "$0.0075"
    assert format_cost(12.345) == "$12.35"


def test_shipped_prices_load_and_date_every_entry() -> None:
    pricing = load_pricing(None)
    assert pricing.lookup("openai", "gpt-4o") is not None
    assert pricing.lookup("groq", "meta-llama/llama-4-scout-17b-16e-instruct") is not None
    assert all(p.checked for p in pricing.prices.values())


def test_user_file_overrides_and_adds(tmp_path: Path) -> None:
    user = ensure_user_pricing(tmp_path / "config" / "pricing.json")
    data = json.loads(user.read_text())
    data["prices"]["openai:gpt-4o"] = {"input": 1.0, "output": 2.0, "checked": "2026-11-27"}
    data["prices"]["mine:llama-4-scout"] = {"input": 0, "output": 0, "checked": "2026-11-27"}
    user.write_text(json.dumps(data))
    pricing = load_pricing(user)
    assert pricing.lookup("openai", "gpt-4o") == Price(1.0, 2.0, "2026-11-27")
    assert pricing.cost("mine", "llama-4-scout", 10**6, 10**6) == 0
    ensure_user_pricing(user)  # an existing file is never overwritten
    assert json.loads(user.read_text())["prices"]["openai:gpt-4o"]["input"] == 1.0


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{", "not valid JSON"),
        ('{"prices": []}', 'a "prices" object'),
        ('{"prices": {"gpt-4o": {"input": 1, "output": 2}}}', "should be provider:model"),
        ('{"prices": {"openai:x": {"input": "cheap", "output": 2}}}', "numeric"),
        ('{"prices": {"openai:x": {"input": -1, "output": 2}}}', "negative"),
    ],
)
def test_a_broken_user_file_is_named(tmp_path: Path, text: str, says: str) -> None:
    user = tmp_path / "pricing.json"
    user.write_text(text)
    with pytest.raises(PricingError, match=says) as raised:
        load_pricing(user)
    if "JSON" in says:
        assert str(user) in str(raised.value)


def test_parse_names_the_source() -> None:
    with pytest.raises(PricingError, match="my file"):
        parse_pricing([], "my file")


# -- where prices come from (issue 17) ---------------------------------------------------------


def test_maintained_prices_say_where_they_come_from_and_price_cached_input() -> None:
    """genai-prices' data (shipped in its wheel): GPT-4o at $2.50/$10 per million, cached input
    at half; the label names the package's version and how recent its data is."""
    import importlib.metadata

    pricing = load_pricing(None)
    plain = pricing.quote("openai", "gpt-4o", Usage(prompt_tokens=10**6, output_tokens=10**6))
    assert plain is not None and plain.dollars == pytest.approx(12.5)
    assert plain.source.startswith(f"genai-prices {importlib.metadata.version('genai-prices')}")
    assert "checked to 20" in plain.source and plain.checked
    cached = pricing.quote(
        "openai", "gpt-4o", Usage(prompt_tokens=10**6, cached_prompt_tokens=5 * 10**5)
    )
    assert cached is not None and cached.dollars == pytest.approx(1.875)
    # Reasoning tokens are output tokens, billed as such: nothing to add.
    stored = pricing.answer_cost("openai", "gpt-4o", Usage(prompt_tokens=1000, output_tokens=10))
    assert cost_text(stored).startswith("$0.0026 (genai-prices ")


def test_your_prices_win_and_an_unknown_model_is_never_free(tmp_path: Path) -> None:
    user = ensure_user_pricing(tmp_path / "pricing.json")
    assert json.loads(user.read_text())["prices"] == {}  # nothing of ours wins by accident
    data = json.loads(user.read_text())
    data["prices"]["openai:gpt-4o"] = {"input": 1.0, "output": 1.0, "checked": "2026-12-01"}
    user.write_text(json.dumps(data))
    pricing = load_pricing(user)
    mine = pricing.answer_cost("openai", "gpt-4o", Usage(prompt_tokens=10**6, output_tokens=0))
    assert mine == {
        "cost_usd": 1.0,
        "price_source": "your pricing.json",
        "price_checked": "2026-12-01",
    }
    assert cost_text(mine) == "$1.00 (your pricing.json, price of 2026-12-01)"
    unknown = pricing.answer_cost("openai", "gpt-9-preview", Usage(prompt_tokens=10))
    assert unknown == {"cost_usd": None} and cost_text(unknown) == "price unknown"


def test_an_endpoint_is_priced_by_its_address_and_loopback_by_nobody() -> None:
    pricing = load_pricing(None)
    usage = Usage(prompt_tokens=10**6, output_tokens=10**6)
    assert pricing.quote("my-deepseek", "deepseek-chat", usage, "https://api.deepseek.com")
    assert pricing.quote("mine", "deepseek-chat", usage, "http://127.0.0.1:8080/v1") is None


def test_without_a_maintained_source_the_shipped_list_says_its_age() -> None:
    """Python 3.10 has no genai-prices: the shipped list is used, and says how old it is."""
    shipped = load_pricing(None)
    alone = Pricing(shipped.prices)  # no sources
    quote = alone.quote("openai", "gpt-4o", Usage(prompt_tokens=1000, output_tokens=500))
    assert quote is not None and quote.source == "Llamaside's own list" and quote.checked
    assert cost_text(alone.answer_cost("openai", "gpt-4o", Usage(prompt_tokens=1000))).endswith(
        f"(Llamaside's own list, price of {quote.checked})"
    )
