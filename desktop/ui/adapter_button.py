"""The LoRA button beside a model picker: which fine-tunes the model answers with, and how much.

Its menu lists the adapters made for the model's architecture, each a check box with its scale
beside it; one that does not fit the model (another size of the same family) is shown greyed
with the reason in its tooltip. Changing a box or a scale takes effect from the next answer,
without reloading the model. The button's own text says what is chosen ("+ my-tune × 0.8"), so
the model choice reads as one line: "SmolLM2 + my-tune × 0.8". The chat's model bar and each
comparison column use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QMenu,
    QToolButton,
    QWidget,
    QWidgetAction,
)

from desktop.core.adapters import MAX_SCALE, MIN_SCALE, Adapter, AdapterFit
from desktop.ui.design import SPACE

#: The text of the button with nothing chosen.
NO_ADAPTER = "LoRA"


class AdapterRow(QWidget):
    """One adapter in the menu: a check box (its name) and its scale."""

    changed = Signal()

    def __init__(self, fit: AdapterFit, chosen: Adapter | None, parent: QWidget) -> None:
        super().__init__(parent)
        self.fit = fit
        self.check = QCheckBox(fit.file.name, self)
        self.check.setChecked(chosen is not None)
        self.scale = QDoubleSpinBox(self)
        self.scale.setRange(MIN_SCALE, MAX_SCALE)
        self.scale.setSingleStep(0.1)
        self.scale.setDecimals(2)
        self.scale.setValue(chosen.scale if chosen is not None else 1.0)
        self.scale.setPrefix("× ")
        self.scale.setAccessibleName(f"Scale of {fit.file.name}")
        self.scale.setToolTip("How strongly the fine-tune changes the model (1: as trained)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SPACE.m, SPACE.xs, SPACE.m, SPACE.xs)
        layout.addWidget(self.check, 1)
        layout.addWidget(self.scale)
        if not fit.fits:
            self.check.setText(f"{fit.file.name} (does not fit this model)")
            self.check.setChecked(False)
            self.setEnabled(False)
            self.setToolTip(fit.reason)
        else:
            self.setToolTip(fit.file.path)
        self.scale.setEnabled(self.check.isChecked())
        self.check.toggled.connect(self._on_toggled)
        self.scale.valueChanged.connect(self._on_scale)

    @property
    def adapter(self) -> Adapter | None:
        if not self.check.isChecked():
            return None
        return Adapter(self.fit.file.path, round(self.scale.value(), 2))

    @Slot(bool)
    def _on_toggled(self, on: bool) -> None:
        self.scale.setEnabled(on)
        self.changed.emit()

    @Slot(float)
    def _on_scale(self, _value: float) -> None:
        if self.check.isChecked():
            self.changed.emit()


def adapters_text(adapters: Sequence[Adapter]) -> str:
    """The button's text: "+ my-tune × 0.8" (two or more: "+ 2 LoRA")."""
    if not adapters:
        return NO_ADAPTER
    if len(adapters) == 1:
        return f"+ {adapters[0].label}"
    return f"+ {len(adapters)} LoRA"


class AdapterButton(QToolButton):
    """Shows and changes the adapters chosen with a local model.

    Signals:
        chosen_changed(object): the adapters now chosen (a tuple of Adapter).
        add_requested(): the user asked to add an adapter file ("Add a LoRA adapter…").
    """

    chosen_changed = Signal(object)
    add_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("adapterButton")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setAccessibleName("LoRA adapters")
        self._menu = QMenu(self)
        self.setMenu(self._menu)
        self._fits: list[AdapterFit] = []
        self._chosen: tuple[Adapter, ...] = ()
        self.rows: list[AdapterRow] = []
        #: Asked for the adapters on offer each time the menu opens (one may have come since).
        self.offer: Callable[[], Sequence[AdapterFit]] | None = None
        self.add_action = QAction("Add a LoRA adapter file…", self)
        self.add_action.triggered.connect(lambda _checked=False: self.add_requested.emit())
        self.none_action = QAction("None (the model as it is)", self)
        self.none_action.triggered.connect(self._on_none)
        self._menu.aboutToShow.connect(self._fill)
        self.show_state([], (), local=False)

    @property
    def chosen(self) -> tuple[Adapter, ...]:
        return self._chosen

    def show_state(
        self, fits: Sequence[AdapterFit], chosen: Sequence[Adapter], *, local: bool
    ) -> None:
        """What the model offers and what is chosen; ``local`` False: a cloud model (none)."""
        self._fits = list(fits)
        self._chosen = tuple(chosen) if local else ()
        self.setEnabled(local)
        self.setText(adapters_text(self._chosen))
        if not local:
            self.setToolTip("LoRA adapters change a local model; a cloud model takes none")
        elif self._chosen:
            names = "\n".join(a.label for a in self._chosen)
            self.setToolTip(f"Fine-tuned with:\n{names}\n(change or turn off here)")
        elif not any(fit.fits for fit in self._fits):
            self.setToolTip(
                "No LoRA adapter here fits this model. Add one (a GGUF from llama.cpp's "
                "convert_lora_to_gguf.py or Hugging Face) from this menu."
            )
        else:
            self.setToolTip("Answer with a fine-tune of this model (LoRA adapters)")

    @Slot()
    def _fill(self) -> None:
        """The menu, made again each time it opens (adapters may have come since)."""
        menu = self._menu
        menu.clear()
        if self.offer is not None:
            self._fits = list(self.offer())
        self.rows = []
        by_path = {a.path: a for a in self._chosen}
        for fit in self._fits:
            row = AdapterRow(fit, by_path.get(fit.file.path), menu)
            row.changed.connect(self._on_row_changed)
            action = QWidgetAction(menu)
            action.setDefaultWidget(row)
            menu.addAction(action)
            self.rows.append(row)
        if not self._fits:
            empty = menu.addAction("No LoRA adapters for this model yet")
            empty.setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.add_action)
        menu.addAction(self.none_action)
        self.none_action.setEnabled(bool(self._chosen))

    @Slot()
    def _on_row_changed(self) -> None:
        # Chosen ones no longer offered (a file gone) stay until the user turns them off.
        offered = {row.fit.file.path for row in self.rows}
        kept = [a for a in self._chosen if a.path not in offered]
        kept += [row.adapter for row in self.rows if row.adapter is not None]
        self._set(tuple(kept))

    @Slot()
    def _on_none(self) -> None:
        self._set(())

    def _set(self, adapters: tuple[Adapter, ...]) -> None:
        if adapters == self._chosen:
            return
        self._chosen = adapters
        self.setText(adapters_text(adapters))
        self.none_action.setEnabled(bool(adapters))
        self.chosen_changed.emit(adapters)
