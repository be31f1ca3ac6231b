"""Prices: lookup by provider and model (snapshots take their prefix's price), the arithmetic,
the shipped file, and a user's file that overrides it or is broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.backends.catalog_file import ensure_user_pricing, load_pricing
from desktop.core.pricing import Price, Pricing, PricingError, format_cost, parse_pricing


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
