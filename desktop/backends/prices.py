"""Cloud prices from the maintained genai-prices package (pydantic/genai-prices): its data
ships in its wheel, so nothing is fetched (its optional updater is never started). Cached-input
tokens are priced at their own rate where the provider reports them; reasoning tokens are part
of the output tokens, as providers bill them.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from pathlib import Path
from typing import Any

from desktop.core.pricing import Quote
from desktop.core.usage import Usage

#: Our built-in providers that genai-prices knows by the same id. A user's own endpoint is
#: matched by its address instead (api.deepseek.com is DeepSeek; 127.0.0.1 is nobody).
PROVIDER_IDS = frozenset({"openai", "anthropic", "together", "groq", "fireworks"})

_CHECKED = re.compile(r"[Cc]hecked (?:on )?(20\d\d-\d\d-\d\d)")


@functools.cache
def _data_date() -> str:
    """The newest date its data says a price was checked on: how fresh the data is."""
    from genai_prices import data

    try:
        text = Path(str(data.__file__)).read_text(encoding="utf-8")
    except (OSError, TypeError):
        return ""
    return max(_CHECKED.findall(text), default="")


class GenaiPrices:
    """genai-prices as a price source for core.pricing.Pricing."""

    def __init__(self) -> None:
        import genai_prices

        self._module: Any = genai_prices
        version = importlib.metadata.version("genai-prices")
        checked = _data_date()
        self.label = f"genai-prices {version}" + (f", checked to {checked}" if checked else "")
        self.checked = checked

    def quote(self, provider: str, model: str, base_url: str, usage: Usage) -> Quote | None:
        prices = self._module
        total = usage.prompt_tokens
        cached = min(usage.cached_prompt_tokens, total)
        counted = prices.Usage(
            input_tokens=total, cache_read_tokens=cached, output_tokens=usage.output_tokens
        )
        where: dict[str, str] = (
            {"provider_id": provider}
            if provider in PROVIDER_IDS
            else {"provider_api_url": base_url}
        )
        if not where.get("provider_id") and not base_url:
            return None
        try:
            calculation = prices.calc_price(counted, model, **where)
        except LookupError:
            return None
        return Quote(float(calculation.total_price), self.label, self.checked)


def price_sources() -> tuple[GenaiPrices, ...]:
    """The maintained sources this install has (none on Python 3.10, which genai-prices
    does not support: the shipped list is used there, and says how old it is)."""
    try:
        return (GenaiPrices(),)
    except ImportError:
        return ()
