"""LoRA adapters chosen with a local model: which file, at what scale, and how they read.

An adapter is a GGUF from llama.cpp's convert_lora_to_gguf.py (or Hugging Face) that changes a
base model's weights by a low-rank product, scaled. The engine applies adapters per answer to
the model it has loaded (engine/lora.py); switching them, or their scales, never reloads the
model. The choice travels with each generate request and is recorded with each answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.errors import InvalidParameter

#: The scales the app accepts: llama.cpp takes any float, but beyond these a fine-tune's
#: change is amplified into noise; a negative scale subtracts it (some users do that).
MIN_SCALE = -4.0
MAX_SCALE = 4.0


@dataclass(frozen=True)
class Adapter:
    """One adapter file and its scale (1.0: as trained; 0: off)."""

    path: str
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.path:
            raise InvalidParameter("A LoRA adapter needs a file.")
        if not math.isfinite(self.scale) or not MIN_SCALE <= self.scale <= MAX_SCALE:
            raise InvalidParameter(
                f"The scale of the LoRA adapter {Path(self.path).name} must be between "
                f"{MIN_SCALE:g} and {MAX_SCALE:g}, not {self.scale:g}."
            )

    @property
    def name(self) -> str:
        """The adapter's file name without .gguf, as labels show it."""
        name = Path(self.path).name
        return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name

    @property
    def label(self) -> str:
        """ "my-support-lora × 0.8" ("my-support-lora" at 1)."""
        return self.name if self.scale == 1.0 else f"{self.name} × {self.scale:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "scale": self.scale}

    @classmethod
    def from_dict(cls, data: Any) -> Adapter:
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise InvalidParameter(
                f"A LoRA adapter must be an object with a path, not {data!r:.80}."
            )
        scale = data.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise InvalidParameter(f"The scale of a LoRA adapter must be a number, not {scale!r}.")
        return cls(data["path"], float(scale))


@dataclass(frozen=True)
class AdapterFile:
    """A LoRA adapter file: where it is, its name as labels show it, what it was made for."""

    path: str
    name: str
    #: The model architecture it was made for ("llama"), "" if its header does not say.
    architecture: str
    size_bytes: int
    #: "folder" (in the models folder) or "user" (added by the user from elsewhere).
    source: str


@dataclass(frozen=True)
class AdapterFit:
    """An adapter as offered for one model: ``reason`` says why it cannot be used ("": fits)."""

    file: AdapterFile
    reason: str = ""

    @property
    def fits(self) -> bool:
        return not self.reason


def adapters_from_json(data: Any) -> tuple[Adapter, ...]:
    """A list of adapters as stored or sent (None and [] both: none)."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise InvalidParameter(f"LoRA adapters must be a list, not {data!r:.80}.")
    return tuple(Adapter.from_dict(item) for item in data)


def adapters_to_json(adapters: Iterable[Adapter]) -> list[dict[str, Any]]:
    return [adapter.to_dict() for adapter in adapters]


def parse_lora_argument(text: str) -> Adapter:
    """``FILE[:SCALE]`` as the command line takes it. The scale is what follows the last colon
    only where that is a number, so "C:\\loras\\x.gguf" and "a:b.gguf" stay file names."""
    path, colon, scale = text.rpartition(":")
    if colon and path:
        try:
            value = float(scale)
        except ValueError:
            pass
        else:
            return Adapter(path, value)
    return Adapter(text, 1.0)


def with_adapters(model_label: str, adapters: Sequence[Adapter]) -> str:
    """ "Llama 3.1 8B + my-support-lora × 0.8": the model and what changes it."""
    shown = [adapter.label for adapter in adapters]
    return " + ".join([model_label, *shown])
