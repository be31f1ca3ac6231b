"""Stored comparisons as the rest of the app sees them: a comparison and each of its answers.
Plain frozen records, no I/O: the store (desktop.storage) writes and reads them, the comparisons
service, the compare window and its export read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desktop.core.adapters import Adapter
from desktop.core.parts import Image, Parts


@dataclass(frozen=True)
class ComparisonRecord:
    """One stored comparison: several models answering the same prompts, side by side
    (compare), blind, or over a prompt file (batch)."""

    id: int
    #: When it was made (ISO time).
    created: str
    title: str
    #: compare, blind or batch.
    kind: str
    #: The model ids, in column order.
    models: tuple[str, ...]
    tag: str = ""
    #: Each column's LoRA adapters, in column order (empty: every column the bare model, as
    #: every comparison before adapters).
    adapters: tuple[tuple[Adapter, ...], ...] = ()

    def column_adapters(self, slot: int) -> tuple[Adapter, ...]:
        """The adapters column ``slot`` answered with (none: the bare model)."""
        return self.adapters[slot] if slot < len(self.adapters) else ()


@dataclass(frozen=True)
class ComparisonAnswerRecord:
    """One column's answer to one prompt of a stored comparison, with its usage (timings,
    token counts, cost) parsed."""

    id: int
    comparison_id: int
    #: The n-th prompt of the comparison (0 first).
    round: int
    #: The column.
    slot: int
    model: str
    prompt: str
    content: str
    status: str
    error: str | None
    usage: dict[str, Any] | None
    #: When it was first saved (ISO time).
    created: str
    #: Its parts where it holds more than its text (tool calls it made, thinking); else empty.
    parts: Parts = ()
    #: The round's question as parts where it carried pictures (its Image parts, then its
    #: text); else empty (the prompt alone).
    prompt_parts: Parts = ()
    #: The LoRA adapters it was written with (empty: the bare model).
    adapters: tuple[Adapter, ...] = ()

    @property
    def prompt_images(self) -> tuple[Image, ...]:
        """The pictures sent with this round's prompt."""
        return tuple(p for p in self.prompt_parts if isinstance(p, Image))
