"""The compare window's past comparisons: a list, newest first, each row with its own menu
(Open, Export as JSON…). Reopening one is the window's: this list asks for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QListWidget, QListWidgetItem, QMenu, QWidget

from desktop.core.adapters import with_adapters
from desktop.core.parts import part_to_json
from desktop.services.comparisons import Comparisons

#: Where a history row keeps its comparison's id.
PAST_ID = Qt.ItemDataRole.UserRole


class PastComparisons(QListWidget):
    """The list of stored comparisons and each row's menu; exports one to a JSON file.

    Signals:
        open_requested(int): the user asked to reopen this comparison.
        notice(str): what the window should tell the user (where an export went, or why not).
    """

    open_requested = Signal(int)
    notice = Signal(str)

    def __init__(
        self,
        comparisons: Comparisons,
        name_of: Callable[[str], str] = str,
        parent: QWidget | None = None,
    ) -> None:
        """``name_of``: a model's name from its id (a tooltip says "SmolLM2 135M Instruct",
        not "local:smollm2-135m-instruct")."""
        super().__init__(parent)
        self.comparisons = comparisons
        self.name_of = name_of
        self.setObjectName("compareHistory")
        self.setAccessibleName("Past comparisons: Enter reopens one, the menu key more")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_menu)
        # A long title ends in "…" (whole in its tooltip) rather than a scroll bar under the list.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        # Enter or a double click: a mere selection (a right-click) must not end the comparison.
        self.itemActivated.connect(lambda item: self.open_requested.emit(int(item.data(PAST_ID))))

    def refresh(self) -> None:
        current = self.currentItem()
        selected = current.data(PAST_ID) if current is not None else None
        self.clear()
        for row in self.comparisons.recent():
            when = row.created[:16].replace("T", " ")
            # The title first: a narrow list cuts the end of the line.
            item = QListWidgetItem(f"{row.title} · {when} · {row.kind}", self)
            item.setData(PAST_ID, row.id)
            models = [
                with_adapters(self.name_of(m), row.column_adapters(i))
                for i, m in enumerate(row.models)
            ]
            item.setToolTip(f"{row.title}\n{when} · {', '.join(models)}")
            if row.id == selected:
                self.setCurrentItem(item)

    @Slot(QPoint)
    def _on_menu(self, pos: QPoint) -> None:
        """The menu of the row right-clicked, which becomes the selected row. Each action is
        bound to that row's comparison; on empty space there is no menu (each needs a row)."""
        item = self.itemAt(pos)
        if item is None:
            return
        self.setCurrentItem(item)
        comparison_id = int(item.data(PAST_ID))
        menu = QMenu(self)
        menu.addAction("Open").triggered.connect(lambda: self.open_requested.emit(comparison_id))
        menu.addAction("Export as JSON…").triggered.connect(lambda: self.export(comparison_id))
        menu.exec(self.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def export(self, comparison_id: int) -> None:
        """One comparison, each prompt and every answer, to a JSON file the user names; the
        notice says where and how much."""
        comparison = self.comparisons.comparison(comparison_id)
        name, _filter = QFileDialog.getSaveFileName(
            self.window(),
            "Export the comparison",
            f"comparison-{comparison_id}.json",
            "JSON (*.json)",
        )
        if not name:
            return
        answers = self.comparisons.answers(comparison_id)
        # The records as the stored rows were (the same keys, in the same order); parts (and
        # the pictures of a round's question) in their stable JSON form (asdict would drop
        # each part's type).
        data: dict[str, Any] = {
            "comparison": asdict(comparison),
            "answers": [
                {
                    **asdict(a),
                    "parts": [part_to_json(p) for p in a.parts],
                    "prompt_parts": [part_to_json(p) for p in a.prompt_parts],
                }
                for a in answers
            ],
        }
        if not any(comparison.adapters) and not any(a.adapters for a in answers):
            # No LoRA adapters anywhere: the export reads as one made before them.
            del data["comparison"]["adapters"]
            for answer in data["answers"]:
                del answer["adapters"]
        try:
            Path(name).write_text(
                json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
            )
        except OSError as exc:
            self.notice.emit(f"Could not write {name}: {exc.strerror or exc}")
            return
        prompts = len({a.round for a in answers})
        self.notice.emit(
            f"Exported “{comparison.title}” ({prompts} prompt(s), {len(answers)} answers) "
            f"to {name}."
        )
