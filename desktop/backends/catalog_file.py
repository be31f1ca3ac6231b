"""Reads the data files shipped with the app in models/: the model catalog and cloud prices
(which the user's own pricing.json can override)."""

from __future__ import annotations

import importlib.resources
import json
from functools import cache
from pathlib import Path
from typing import Any

import desktop
from desktop.core.catalog import Catalog, CatalogError, parse_catalog
from desktop.core.pricing import Pricing, PricingError, parse_pricing


def _shipped_text(name: str) -> str:
    # A source checkout (or an editable install) reads models/ directly; an installed wheel
    # carries the same file as the package desktop._catalog.
    checkout = Path(desktop.__file__).resolve().parent.parent / "models" / name
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    return (importlib.resources.files("desktop._catalog") / name).read_text("utf-8")


@cache
def load_catalog() -> Catalog:
    """The catalog, parsed once per process (it is read-only data)."""
    try:
        data: Any = json.loads(_shipped_text("catalog.json"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"The model catalog is missing or damaged: {exc}") from exc
    return parse_catalog(data)


def shipped_pricing_text() -> str:
    return _shipped_text("pricing.json")


def load_pricing(user_file: Path | None = None) -> Pricing:
    """The user's prices first, then genai-prices' data, then the shipped list. A damaged user
    file raises PricingError naming it (the caller shows it and can fall back)."""
    from desktop.backends.prices import price_sources

    prices = parse_pricing(json.loads(shipped_pricing_text()), "the shipped pricing.json")
    overrides = {}
    if user_file is not None and user_file.is_file():
        try:
            data: Any = json.loads(user_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PricingError(f"{user_file} is not valid JSON: {exc}") from exc
        overrides = parse_pricing(data, str(user_file))
    return Pricing(prices, overrides=overrides, sources=price_sources())


#: A new overrides file: empty (every price comes from the maintained data), with an example of
#: the form. Copying the shipped list here would make its old prices win over fresher data.
USER_PRICING_TEMPLATE = (
    "{\n"
    '  "about": "Your own prices in dollars per million tokens; they win over every other '
    'price. Add entries under prices, like the example (which does not count).",\n'
    '  "example": {"openai:gpt-4o": {"input": 2.5, "output": 10.0, "checked": "2026-12-01"}},\n'
    '  "prices": {}\n'
    "}\n"
)


def ensure_user_pricing(user_file: Path) -> Path:
    """Create the user's overrides file (if it does not exist yet)."""
    if not user_file.exists():
        user_file.parent.mkdir(parents=True, exist_ok=True)
        user_file.write_text(USER_PRICING_TEMPLATE, encoding="utf-8")
    return user_file
