"""The load settings a user chose for one model file (context, GPU layers, experts in RAM, KV
cache type, threads, flash attention, a draft model), kept in settings.json under
``"model_settings"``, keyed by the file's path.

settings.json, not SQLite: the app's other load settings (``n_ctx``, ``sample_on_device``) live
there, a user may edit them by hand like those, and they are preferences, not records of what
happened (the store's per-file rows, such as model_projectors, say what a file *is*). Only the
values the user set are kept: anything left unset follows the fit planner and the app's
defaults, so "Reset to recommended" is deleting the model's entry.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from desktop.backends.gguf_header import _read_header
from desktop.core.catalog import Architecture
from desktop.core.errors import InvalidParameter, LlamasideError
from desktop.core.params import LoadParams
from desktop.storage.settings import Settings

KEY = "model_settings"
#: The LoadParams fields a user may set per model, in the dialog's order.
FIELDS = (
    "n_ctx",
    "n_gpu_layers",
    "n_cpu_moe",
    "kv_cache_type",
    "n_threads",
    "flash_attn",
    "speculative",
    "draft_model",
)
#: The type a saved value of each field must have (settings.json may be edited by hand).
_TYPES: dict[str, tuple[type, ...]] = {
    "n_ctx": (int,),
    "n_gpu_layers": (int,),
    "n_cpu_moe": (int,),
    "kv_cache_type": (str,),
    "n_threads": (int,),
    "flash_attn": (bool,),
    "speculative": (str,),
    "draft_model": (str,),
}


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """The settable fields that are set (None means "not chosen") and of the right type."""
    clean: dict[str, Any] = {}
    for name in FIELDS:
        value = values.get(name)
        if value is None:
            continue
        wanted = _TYPES[name]
        # bool is an int in Python: a true where a number belongs is not a number.
        if not isinstance(value, wanted) or (bool not in wanted and isinstance(value, bool)):
            raise InvalidParameter(f"{name} must be a {wanted[0].__name__}, got {value!r}")
        clean[name] = value
    return clean


class ModelSettings:
    """The per-model load settings in the settings file: read, save (validated), reset, and
    laid over a model's load parameters (the user's choice wins)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _all(self) -> dict[str, Any]:
        saved = self._settings.get(KEY, {})
        return saved if isinstance(saved, dict) else {}

    def of(self, path: str) -> dict[str, Any]:
        """What the user set for this file (empty: nothing; a damaged entry reads as nothing,
        as a bad settings file must never stop a model from loading)."""
        entry = self._all().get(path, {})
        try:
            return _clean(entry) if isinstance(entry, dict) else {}
        except InvalidParameter:
            return {}

    def save(self, path: str, values: dict[str, Any]) -> LoadParams:
        """Keep these (None: not chosen) for the file, after checking that a load could use
        them: raises InvalidParameter with the sentence to show, and keeps nothing then."""
        chosen = _clean(values)
        checked = apply(LoadParams(), chosen)
        saved = dict(self._all())
        if chosen:
            saved[path] = chosen
        else:
            saved.pop(path, None)
        self._settings.set(KEY, saved)
        return checked

    def reset(self, path: str) -> None:
        """Forget the file's settings: it loads as recommended again."""
        saved = dict(self._all())
        if saved.pop(path, None) is not None:
            self._settings.set(KEY, saved)

    def over(self, params: LoadParams, path: str) -> LoadParams:
        """``params`` with the user's settings for the file laid over them."""
        try:
            return apply(params, self.of(path))
        except InvalidParameter:
            return params  # e.g. q4_0 saved, then flash attention turned off by hand


def apply(params: LoadParams, chosen: dict[str, Any]) -> LoadParams:
    """``params`` with ``chosen`` over them, checked (InvalidParameter)."""
    return LoadParams.from_dict({**params.to_dict(), **chosen}) if chosen else replace(params)


#: A GGUF's general.size_label when it is a plain count ("135M", "7.2B"; not "8x7B" or
#: "17B-16E", whose totals it does not give).
_SIZE_LABEL = re.compile(r"(\d+(?:\.\d+)?)([KMBT])")
_SCALE = {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}


def size_label_billions(label: str) -> float:
    """Parameters in billions from a size label ("135M" is 0.135); 0 when it gives no count."""
    match = _SIZE_LABEL.fullmatch(label.strip())
    return float(match.group(1)) * _SCALE[match.group(2)] if match else 0.0


def architecture_of(path: str) -> Architecture | None:
    """A model file's shape for the fit planner's arithmetic (layers, KV heads, head size,
    trained context), from its GGUF header; None when the header lacks them."""
    try:
        header = _read_header(Path(path))
    except LlamasideError:
        return None
    arch = header.text("general.architecture") or ""

    def number(key: str, default: int = 0) -> int:
        return header.integer(f"{arch}.{key}", default)

    layers, heads = number("block_count"), number("attention.head_count")
    kv_heads = number("attention.head_count_kv", heads)
    embedding = number("embedding_length")
    head_dim = number("attention.key_length", embedding // heads if heads else 0)
    if not (layers and kv_heads and head_dim):
        return None
    experts = number("expert_count")
    return Architecture(
        kind="moe" if experts > 1 else "dense",
        params_b=size_label_billions(header.text("general.size_label") or ""),
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        context_train=number("context_length"),
        experts=experts or None,
    )
