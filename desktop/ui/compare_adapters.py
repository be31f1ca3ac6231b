"""The compare window's LoRA buttons: beside each column's model picker, the adapters that
column's local model answers with, and at what scale.

A column's model choice is its model and its adapters ("SmolLM2 + my-tune × 0.8"), so "base vs
fine-tune" is two columns of one model, one with an adapter ticked. Each button offers what the
chat service offers for its picker's model (those made for its architecture; one that does not
fit is greyed with why); a cloud model takes none. A choice the picker's next model cannot take
is dropped. The choices are remembered with the model set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from desktop.core.adapters import Adapter, adapters_from_json, adapters_to_json
from desktop.core.errors import InvalidParameter, LlamasideError
from desktop.core.models import CloudModel, LocalModel
from desktop.services.chat import ChatService
from desktop.ui.adapter_button import AdapterButton

#: Where the chosen adapters are kept between sessions: a list per column, like the models.
SETTING = "compare_adapters"


class ColumnAdapters(QObject):
    """Owns each column's AdapterButton: what it offers for its picker's model, and what is
    chosen.

    Attributes:
        buttons: one per picker, in column order.

    Signals:
        notice(str): what the window should tell the user (why an added file was refused).
    """

    notice = Signal(str)

    def __init__(self, chat: ChatService, parent: QWidget) -> None:
        super().__init__(parent)
        self.chat = chat
        self._parent = parent
        self.buttons: list[AdapterButton] = []
        self.pickers: list[QComboBox] = []
        #: The last set_enabled's: whether choices may change, and how many columns show.
        self._state = (True, 0)
        saved = chat.settings.get(SETTING, [])
        #: Until a column's button is first filled: what was chosen there last time.
        self._saved: list[tuple[Adapter, ...]] = [
            _readable(column) for column in (saved if isinstance(saved, list) else [])
        ]

    def add(self, picker: QComboBox) -> AdapterButton:
        """The button for ``picker``'s column (placed by the window beside it)."""
        slot = len(self.buttons)
        button = AdapterButton(self._parent)
        button.setAccessibleName(f"LoRA adapters for column {slot + 1}")
        button.chosen_changed.connect(self._on_chosen_changed)
        button.add_requested.connect(lambda s=slot: self._add_file(s))
        picker.currentIndexChanged.connect(lambda _index, s=slot: self.refresh(s))
        self.buttons.append(button)
        self.pickers.append(picker)
        return button

    def model(self, slot: int) -> LocalModel | CloudModel | None:
        """The model column ``slot``'s picker shows."""
        chosen = self.pickers[slot].currentData()
        return next((m for m in self.chat.all_models if m.id == chosen), None)

    def refresh(self, slot: int) -> None:
        """Column ``slot``'s button for its picker's model now: the adapters offered, and
        those chosen that still fit it."""
        button = self.buttons[slot]
        model = self.model(slot)
        fits = self.chat.adapters_offered(model)
        fitting = {fit.file.path for fit in fits if fit.fits}
        wanted = button.chosen or (self._saved[slot] if slot < len(self._saved) else ())
        if slot < len(self._saved):
            self._saved[slot] = ()  # read once: from now on the button's own choice counts
        chosen = [a for a in wanted if a.path in fitting]
        button.show_state(fits, chosen, local=isinstance(model, LocalModel))

    def refresh_all(self) -> None:
        """Every button for its picker's model (the models changed: an adapter may have come)."""
        for slot in range(len(self.buttons)):
            self.refresh(slot)
        self.set_enabled(*self._state)

    def chosen(self, count: int) -> list[tuple[Adapter, ...]]:
        """The first ``count`` columns' adapters (none for a cloud model)."""
        return [button.chosen for button in self.buttons[:count]]

    def show(self, adapters: Sequence[Sequence[Adapter]]) -> None:
        """A past comparison's adapters on its columns' buttons (those files still fitting)."""
        for slot, button in enumerate(self.buttons):
            model = self.model(slot)
            fits = self.chat.adapters_offered(model)
            fitting = {fit.file.path for fit in fits if fit.fits}
            chosen = adapters[slot] if slot < len(adapters) else ()
            local = isinstance(model, LocalModel)
            button.show_state(fits, [a for a in chosen if a.path in fitting], local=local)

    def set_enabled(self, on: bool, count: int) -> None:
        """While a comparison runs its columns' choices stay as they are (New comparison).
        The buttons show once this machine has an adapter, as the main window's does."""
        self._state = (on, count)
        shown = any(b.chosen for b in self.buttons) or bool(self.chat.adapter_files())
        for slot, button in enumerate(self.buttons):
            model = self.model(slot)
            button.setEnabled(on and isinstance(model, LocalModel))
            button.setVisible(shown and slot < count)

    @Slot(object)
    def _on_chosen_changed(self, _adapters: object) -> None:
        self.chat.settings.set(SETTING, [adapters_to_json(b.chosen) for b in self.buttons])

    def _add_file(self, slot: int) -> None:
        """A LoRA file the user picks: remembered, and ticked in this column where it fits
        its model (else the menu shows it greyed, with why)."""
        path, _filter = QFileDialog.getOpenFileName(
            self._parent, "Add a LoRA adapter", "", "GGUF adapters (*.gguf);;All files (*)"
        )
        if not path:
            return
        try:
            added = self.chat.add_adapter_file(path, None)
        except LlamasideError as exc:
            self.notice.emit(str(exc))
            return
        button = self.buttons[slot]
        self.refresh_all()
        model = self.model(slot)
        fit = next(
            (f for f in self.chat.adapters_offered(model) if f.file.path == added.file.path),
            None,
        )
        if fit is None or not fit.fits:
            why = fit.reason if fit is not None else "it was made for another kind of model"
            self.notice.emit(f"{added.file.name} cannot be used with this model: {why}")
            return
        chosen = (*[a for a in button.chosen if a.path != fit.file.path], Adapter(fit.file.path))
        button.show_state(self.chat.adapters_offered(model), chosen, local=True)
        self._on_chosen_changed(chosen)


def _readable(column: Any) -> tuple[Adapter, ...]:
    """A remembered column's adapters (anything unreadable, e.g. hand-edited: none)."""
    try:
        return adapters_from_json(column)
    except InvalidParameter:
        return ()
