"""The stored comparisons as the compare and batch windows use them, so that the UI reaches
the history database through a service."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop.core.adapters import Adapter
from desktop.core.comparison_records import ComparisonAnswerRecord, ComparisonRecord
from desktop.core.models import CloudModel, LocalModel
from desktop.services.compare import CompareSession
from desktop.services.leaderboard import Leaderboard
from desktop.storage.store import ChatStore


class Comparisons:
    """Owns the comparisons history: the list of past comparisons, one comparison with its
    answers, blind votes and the leaderboard over them, and new comparison sessions, which
    record into the same history."""

    def __init__(self, store: ChatStore, image_root: Path | str = "") -> None:
        self.store = store
        self.leaderboard = Leaderboard(store)
        #: Where pictures sent with a comparison's prompts are stored (the app's image folder).
        self.image_root = image_root

    def recent(self, limit: int = 200) -> list[ComparisonRecord]:
        """The latest comparisons first."""
        return self.store.comparisons()[:limit]

    def comparison(self, comparison_id: int) -> ComparisonRecord:
        return self.store.comparison(comparison_id)

    def answers(self, comparison_id: int) -> list[ComparisonAnswerRecord]:
        """Every answer of a comparison, by round then column, its usage parsed."""
        return self.store.comparison_answers(comparison_id)

    def add_vote(
        self,
        *,
        model_a: str,
        model_b: str,
        winner: str,
        comparison_id: int | None = None,
        round_index: int | None = None,
        flagged: str = "",
        adapters_a: Sequence[Adapter] = (),
        adapters_b: Sequence[Adapter] = (),
    ) -> int:
        """A blind vote (winner: a, b, tie or bad); ``flagged`` says why it stays out of the
        leaderboard, if it does; ``adapters_a``/``_b``: the LoRA adapters each side answered
        with (a fine-tune is its own contestant)."""
        return self.store.add_vote(
            model_a=model_a,
            model_b=model_b,
            winner=winner,
            comparison_id=comparison_id,
            round_index=round_index,
            flagged=flagged,
            adapters_a=adapters_a,
            adapters_b=adapters_b,
        )

    def session(self, models: list[LocalModel | CloudModel], **options: Any) -> CompareSession:
        """A comparison of these models (CompareSession's options), saved here as it runs."""
        options.setdefault("image_root", self.image_root)
        return CompareSession(self.store, models, **options)
