"""Comparisons (several models answering the same prompts, side by side or blind) and the votes
that feed the leaderboard."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from desktop.core.adapters import Adapter, adapters_from_json, adapters_to_json
from desktop.core.comparison_records import ComparisonAnswerRecord, ComparisonRecord
from desktop.core.errors import InvalidParameter, StoreError
from desktop.core.parts import PartError, Parts, is_plain, parts_from_json, parts_to_json
from desktop.core.ratings import Vote
from desktop.storage.database import Database, now_iso
from desktop.storage.rows import adapters_of_column


class Comparisons(Database):
    """Owns the comparisons, comparison_answers and votes tables; a vote outlives its
    comparison."""

    def create_comparison(
        self,
        title: str,
        kind: str,
        models: list[str],
        tag: str = "",
        adapters: Sequence[Sequence[Adapter]] = (),
    ) -> int:
        """A new comparison; ``adapters``: each column's LoRA adapters, in column order (its
        answers are recorded with their column's)."""
        per_column = [adapters_to_json(a) for a in adapters]
        with self._writing():
            cursor = self.db.execute(
                "INSERT INTO comparisons (created, title, kind, models, tag, adapters) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    now_iso(),
                    title,
                    kind,
                    json.dumps(models),
                    tag,
                    json.dumps(per_column) if any(per_column) else None,
                ],
            )
        return int(cursor.lastrowid or 0)

    def comparisons(self) -> list[ComparisonRecord]:
        """Every comparison, the latest first."""
        rows = self.db.query("SELECT * FROM comparisons ORDER BY id DESC")
        return [_comparison(row) for row in rows]

    def comparison(self, comparison_id: int) -> ComparisonRecord:
        rows = list(self.db.query("SELECT * FROM comparisons WHERE id = ?", [comparison_id]))
        if not rows:
            raise StoreError(f"Comparison {comparison_id} does not exist.")
        return _comparison(rows[0])

    def save_comparison_answer(
        self,
        comparison_id: int,
        *,
        round_index: int,
        slot: int,
        model: str,
        prompt: str,
        content: str,
        status: str,
        error: str | None = None,
        usage: dict[str, Any] | None = None,
        parts: Parts = (),
        adapters: Sequence[Adapter] | None = None,
    ) -> int:
        """Insert or update (same comparison, round and slot) one column's answer; ``parts``
        where it holds more than its text (tool calls, thinking); ``adapters``: the LoRA
        adapters it was written with (None: its column's, as the comparison records them)."""
        if adapters is None:
            adapters = self._column_adapters(comparison_id, slot)
        with self._writing():
            existing = self.db.execute(
                "SELECT id FROM comparison_answers WHERE comparison_id = ? AND round = ? "
                "AND slot = ?",
                [comparison_id, round_index, slot],
            ).fetchone()
            values = [
                model,
                prompt,
                content,
                status,
                error,
                json.dumps(usage) if usage else None,
                None if is_plain(parts) else parts_to_json(parts),
                json.dumps(adapters_to_json(adapters)) if adapters else None,
            ]
            if existing:
                self.db.execute(
                    "UPDATE comparison_answers SET model = ?, prompt = ?, content = ?, "
                    "status = ?, error = ?, usage = ?, parts = ?, adapters = ? WHERE id = ?",
                    [*values, existing[0]],
                )
                return int(existing[0])
            cursor = self.db.execute(
                "INSERT INTO comparison_answers (model, prompt, content, status, error, usage, "
                "parts, adapters, comparison_id, round, slot, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*values, comparison_id, round_index, slot, now_iso()],
            )
        return int(cursor.lastrowid or 0)

    def _column_adapters(self, comparison_id: int, slot: int) -> tuple[Adapter, ...]:
        row = self.db.execute(
            "SELECT adapters FROM comparisons WHERE id = ?", [comparison_id]
        ).fetchone()
        columns = _adapter_columns(row[0] if row else None)
        return columns[slot] if slot < len(columns) else ()

    def save_comparison_prompt(self, comparison_id: int, round_index: int, parts: Parts) -> None:
        """A round's question as parts, on every column's row of it (saved after the rows):
        kept where it holds more than its text (pictures)."""
        with self._writing():
            self.db.execute(
                "UPDATE comparison_answers SET prompt_parts = ? WHERE comparison_id = ? "
                "AND round = ?",
                [None if is_plain(parts) else parts_to_json(parts), comparison_id, round_index],
            )

    def comparison_answers(self, comparison_id: int) -> list[ComparisonAnswerRecord]:
        """Every answer of a comparison, by round then column, its usage parsed."""
        rows = self.db.query(
            "SELECT * FROM comparison_answers WHERE comparison_id = ? ORDER BY round, slot",
            [comparison_id],
        )
        return [_answer(row) for row in rows]

    def add_vote(
        self,
        *,
        model_a: str,
        model_b: str,
        winner: str,
        comparison_id: int | None = None,
        round_index: int | None = None,
        flagged: str = "",
        tag: str = "",
        adapters_a: Sequence[Adapter] = (),
        adapters_b: Sequence[Adapter] = (),
    ) -> int:
        """A blind vote; ``adapters_a``/``_b``: the LoRA adapters each side answered with (a
        fine-tune is its own contestant on the leaderboard)."""
        with self._writing():
            cursor = self.db.execute(
                "INSERT INTO votes (comparison_id, round, model_a, model_b, winner, flagged, "
                "tag, created, adapters_a, adapters_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    comparison_id,
                    round_index,
                    model_a,
                    model_b,
                    winner,
                    flagged,
                    tag,
                    now_iso(),
                    _adapters_column(adapters_a),
                    _adapters_column(adapters_b),
                ],
            )
        return int(cursor.lastrowid or 0)

    def votes(self, *, tag: str | None = None, since: str | None = None) -> list[Vote]:
        """Stored votes, oldest first; optionally one tag's, or those after an ISO time."""
        clauses, params = [], []
        if tag:
            clauses.append("tag = ?")
            params.append(tag)
        if since:
            clauses.append("created >= ?")
            params.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [
            Vote(
                model_a=row["model_a"],
                model_b=row["model_b"],
                winner=row["winner"],
                flagged=row["flagged"],
                tag=row["tag"],
                created=row["created"],
                comparison_id=row["comparison_id"],
                round=row["round"],
                id=row["id"],
                adapters_a=adapters_of_column(row.get("adapters_a")),
                adapters_b=adapters_of_column(row.get("adapters_b")),
            )
            for row in self.db.query(f"SELECT * FROM votes {where} ORDER BY id", params)
        ]

    def vote_tags(self) -> list[str]:
        """The tags votes were given (each once; "" left out)."""
        return [r["tag"] for r in self.db.query("SELECT DISTINCT tag FROM votes WHERE tag != ''")]


def _comparison(row: dict[str, Any]) -> ComparisonRecord:
    return ComparisonRecord(
        id=int(row["id"]),
        created=str(row["created"]),
        title=str(row["title"]),
        kind=str(row["kind"]),
        models=tuple(str(m) for m in json.loads(row["models"])),
        tag=str(row["tag"]),
        adapters=_adapter_columns(row.get("adapters")),
    )


def _answer(row: dict[str, Any]) -> ComparisonAnswerRecord:
    return ComparisonAnswerRecord(
        id=int(row["id"]),
        comparison_id=int(row["comparison_id"]),
        round=int(row["round"]),
        slot=int(row["slot"]),
        model=str(row["model"]),
        prompt=str(row["prompt"]),
        content=str(row["content"]),
        status=str(row["status"]),
        error=row["error"],
        usage=json.loads(row["usage"]) if row["usage"] else None,
        created=str(row["created"]),
        parts=_parts(row.get("parts")),
        prompt_parts=_parts(row.get("prompt_parts")),
        adapters=adapters_of_column(row.get("adapters")),
    )


def _adapters_column(adapters: Sequence[Adapter]) -> str | None:
    return json.dumps(adapters_to_json(adapters)) if adapters else None


def _adapter_columns(raw: str | None) -> tuple[tuple[Adapter, ...], ...]:
    """A comparison's adapters per column (NULL: none anywhere)."""
    if not raw:
        return ()
    try:
        columns = json.loads(raw)
        if not isinstance(columns, list):
            return ()
        return tuple(adapters_from_json(column) for column in columns)
    except (ValueError, InvalidParameter):
        return ()


def _parts(raw: str | None) -> Parts:
    """A stored answer's parts (empty: its text alone, or parts this version cannot read,
    whose text is still in content)."""
    if not raw:
        return ()
    try:
        return parts_from_json(raw)
    except (ValueError, PartError):
        return ()
