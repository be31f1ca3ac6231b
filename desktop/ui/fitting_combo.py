"""A combo box that asks for the room its current entry needs (within a cap) and, where it gets
less, draws the entry cut with "…": the model picker read "SmolLM2 135M Instruct (bundled) · 98"
with its "MB" cut off, beside a row of free space."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter, QWidget

#: The widest it asks to be: a long file name must not push the window past a small screen.
MAX_WIDTH = 520


class FittingCombo(QComboBox):
    """``shown()`` is the current entry as drawn at the present width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.currentIndexChanged.connect(lambda _index: self.updateGeometry())

    def _label_width(self) -> int:
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        rect = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        return rect.width()

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        text = QSize(self.fontMetrics().horizontalAdvance(self.currentText()) + 4, hint.height())
        wanted = (
            self.style()
            .sizeFromContents(QStyle.ContentsType.CT_ComboBox, option, text, self)
            .width()
        )
        return QSize(max(hint.width(), min(wanted, MAX_WIDTH)), hint.height())

    def shown(self) -> str:
        return self.fontMetrics().elidedText(
            self.currentText(), Qt.TextElideMode.ElideRight, self._label_width()
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)
