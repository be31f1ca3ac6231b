"""What a GGUF model file says about itself, read from its header when it is added.

A plain value, in core so the window and the CLI can show it without importing the backend that
reads it (desktop.backends.gguf_check).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GgufSummary:
    """A GGUF model that passed the add-time checks.

    Attributes:
        path: the file to load: the first part of a split model, even when another part was
            picked (llama.cpp loads the whole set from the first part and refuses the others).
        architecture: ``general.architecture``, e.g. "llama", "qwen2".
        name: ``general.name``, if the file has one.
        file_type: the quantization the file says it mostly uses, e.g. "Q4_K_M"; None if absent.
        split_count: 1 for a single file, N for ``name-00001-of-0000N.gguf`` sets.
        parts: every file of the model, first part first.
        size_bytes: the size of all parts together.
        architecture_supported: True if the installed llama.cpp knows the architecture, None if
            that could not be told (its library was not found); never False (that is refused).
    """

    path: Path
    architecture: str
    name: str | None
    file_type: str | None
    split_count: int
    parts: tuple[Path, ...]
    size_bytes: int
    architecture_supported: bool | None

    @property
    def detail(self) -> str:
        """A short line for a list: "llama · Q4_K_M", "qwen3moe · Q4_K_M · 3 parts"."""
        pieces = [self.architecture]
        if self.file_type:
            pieces.append(self.file_type)
        if self.split_count > 1:
            pieces.append(f"{self.split_count} parts")
        return " · ".join(pieces)
