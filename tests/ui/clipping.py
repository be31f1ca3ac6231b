"""Finds widgets a layout has cut off: text wider than the label or button that shows it, a
placeholder cut short, a widget squeezed below the least it asks for, or one lying outside its
window. Used by the layout tests at 800×600 and at 200 % scaling."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QToolButton,
    QWidget,
)

from desktop.ui.elided_label import ElidedLabel

#: Rounding between font metrics and layouts: a pixel either way is not a cut.
SLACK = 2


def describe(widget: QWidget) -> str:
    name = widget.objectName() or widget.accessibleName()
    text = ""
    if isinstance(widget, (QLabel, QAbstractButton)):
        text = widget.text()
    elif isinstance(widget, QLineEdit):
        text = widget.placeholderText()
    label = f"{type(widget).__name__}"
    if name:
        label += f" {name!r}"
    if text:
        label += f" {text[:40]!r}"
    return label


def in_scrolled_content(widget: QWidget, top: QWidget) -> bool:
    """Inside a scroll area's viewport, where being partly out of sight is the point."""
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if isinstance(parent.parentWidget(), QAbstractScrollArea) and parent is (
            parent.parentWidget().viewport()  # type: ignore[union-attr]
        ):
            return True
        parent = parent.parentWidget()
    return False


def text_width(widget: QLabel, text: str) -> int:
    if widget.textFormat() == Qt.TextFormat.RichText or (
        widget.textFormat() == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(text)
    ):
        doc = QTextDocument()
        doc.setDefaultFont(widget.font())
        doc.setHtml(text)
        doc.setDocumentMargin(0)
        return int(doc.idealWidth())
    return max(widget.fontMetrics().horizontalAdvance(line) for line in text.split("\n"))


def problem(widget: QWidget, top: QWidget) -> str:
    """Why ``widget`` is cut off in ``top``, or "" when it is not."""
    if isinstance(widget, QLabel) and not isinstance(widget, ElidedLabel):
        text = widget.text()
        if text and not widget.wordWrap() and widget.pixmap().isNull():
            need = text_width(widget, text) + 2 * widget.margin()
            room = widget.contentsRect().width()
            if need > room + SLACK:
                return f"text needs {need} px, has {room}"
    if isinstance(widget, (QPushButton, QToolButton, QCheckBox, QRadioButton)):
        need = widget.sizeHint().width()
        if widget.text() and widget.width() + SLACK < need:
            return f"button needs {need} px, has {widget.width()}"
    if isinstance(widget, QLineEdit) and not widget.text() and widget.placeholderText():
        need = widget.fontMetrics().horizontalAdvance(widget.placeholderText())
        margins = widget.textMargins()
        room = widget.width() - 12 - margins.left() - margins.right()  # frame and padding
        if need > room + SLACK:
            return f"placeholder needs {need} px, has {room}"
    if isinstance(widget, QComboBox):
        hint = widget.minimumSizeHint().width()
        if widget.width() + SLACK < hint:
            return f"combo box needs {hint} px, has {widget.width()}"
    least = widget.minimumSizeHint()
    laid_out = least.isValid() and widget.layout() is not None
    if laid_out and widget.height() + SLACK < least.height():
        return f"squeezed to {widget.height()} px high, needs {least.height()}"
    if not in_scrolled_content(widget, top):
        where = QRect(widget.mapTo(top, QPoint(0, 0)), widget.size())
        if not top.rect().adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(where):
            return f"lies at {where.getRect()}, outside its window {top.rect().getRect()}"
    return ""


def clipped(top: QWidget) -> list[str]:
    """Every visible widget of ``top`` that is cut off, described for a failure message."""
    found = []
    for widget in top.findChildren(QWidget):
        if widget.isWindow() or not widget.isVisibleTo(top) or widget.width() <= 0:
            continue
        reason = problem(widget, top)
        if reason:
            found.append(f"{describe(widget)}: {reason}")
    return found
