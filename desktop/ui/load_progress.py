"""A model load's progress in the window's status bar: the model's name and a bar from 0 to
100 % while llama.cpp reads its weights, gone once it is loaded, fails, or the engine ends."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from desktop.core.answer import AnswerEvent, Failed
from desktop.services.chat import ChatService

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


class LoadProgress(QWidget):
    """The status bar's load progress, following the engine host's signals.

    Attributes:
        label: "Loading <model name>".
        bar: the share of the weights read, 0-100 %.
    """

    def __init__(self, chat: ChatService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loadProgress")
        self._chat = chat
        #: The load being shown (None: none).
        self._request: int | None = None
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFormat("%p %")
        self.bar.setAccessibleName("Model load progress")
        self.bar.setMaximumWidth(self.fontMetrics().horizontalAdvance("0") * 24)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        engine = chat.engine
        engine.load_progress.connect(self._on_load_progress)
        engine.loaded.connect(self._on_loaded)
        engine.answered.connect(self._on_answered)
        engine.exited.connect(self._on_exited)
        self.hide()

    def _name(self, path: str) -> str:
        return next((m.name for m in self._chat.models if m.path == path), Path(path).stem)

    @Slot(int, str, float)
    def _on_load_progress(self, request_id: int, path: str, fraction: float) -> None:
        if request_id != self._request:
            self._request = request_id
            self.label.setText(f"Loading {self._name(path)}")
        self.bar.setValue(round(fraction * 100))
        self.setToolTip(f"{self.label.text()}: {self.bar.value()} % of its weights read")
        self.show()

    def _done(self, request_id: int) -> None:
        if request_id == self._request:
            self._request = None
            self.hide()

    @Slot(int, dict, float)
    def _on_loaded(self, request_id: int, _info: dict[str, object], _load_s: float) -> None:
        self._done(request_id)

    @Slot(int, object)
    def _on_answered(self, request_id: int, event: AnswerEvent) -> None:
        if isinstance(event, Failed):  # the load's own error, or a later one: either way done
            self._done(request_id)

    @Slot(str, bool)
    def _on_exited(self, _message: str, _expected: bool) -> None:
        self._request = None
        self.hide()


def install_load_progress(window: MainWindow) -> LoadProgress:
    """The load progress at the right of the window's status bar (once per window)."""
    existing = getattr(window, "load_progress", None)
    if isinstance(existing, LoadProgress):
        return existing
    widget = LoadProgress(window.chat, window)
    window.statusBar().addPermanentWidget(widget)
    window.load_progress = widget  # type: ignore[attr-defined]
    return widget
