"""Reads the model catalog shipped with the app (models/catalog.json)."""

from __future__ import annotations

import importlib.resources
import json
from functools import cache
from pathlib import Path
from typing import Any

import desktop
from desktop.core.catalog import Catalog, CatalogError, parse_catalog


def _catalog_text() -> str:
    # A source checkout (or an editable install) reads models/ directly; an installed wheel
    # carries the same file as the package desktop._catalog.
    checkout = Path(desktop.__file__).resolve().parent.parent / "models" / "catalog.json"
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    return (importlib.resources.files("desktop._catalog") / "catalog.json").read_text("utf-8")


@cache
def load_catalog() -> Catalog:
    """The catalog, parsed once per process (it is read-only data)."""
    try:
        data: Any = json.loads(_catalog_text())
    except (OSError, ValueError) as exc:
        raise CatalogError(f"The model catalog is missing or damaged: {exc}") from exc
    return parse_catalog(data)
