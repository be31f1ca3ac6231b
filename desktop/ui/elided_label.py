"""A one-line label that gives up room instead of pushing its neighbours: it draws its text cut
to its width with "…" and shows the whole of it as a tooltip when it is cut. The status bar's
parts ran into each other at ordinary widths ("ctx 4096 · loaded i Context 293…") because a
plain QLabel will not shrink below its text."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget

#: The least a label asks for: a few characters and the ellipsis.
MIN_WIDTH = 48


class ElidedLabel(QLabel):
    """``text()`` is the whole text; ``shown()`` what fits."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._tooltip = ""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), MIN_WIDTH), hint.height())

    def shown(self) -> str:
        """The text as drawn at the label's present width."""
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, width)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._sync_tooltip()

    def setToolTip(self, tip: str) -> None:
        self._tooltip = tip  # a caller's own tooltip wins over the whole-text one
        super().setToolTip(tip)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._sync_tooltip()

    def _sync_tooltip(self) -> None:
        if not self._tooltip:
            cut = self.shown() != self.text()
            super().setToolTip(self.text() if cut else "")

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), align, self.shown())
