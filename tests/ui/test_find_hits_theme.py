"""Find in chat marks its hits in the theme's colours: the current one as a selection
(Highlight under HighlightedText), the others tinted with Highlight under the chat's own text,
readable in light and dark (yellow and orange before: 2.6:1 under the dark theme's text), and
a theme switch with the bar open recolours them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.ui.design import colours_for
from desktop.ui.main_window import MainWindow
from tests.ui.test_contrast import contrast
from tests.ui.test_find_and_copy import chat_of


def over(top: QColor, bottom: QColor) -> QColor:
    """``top`` (with its alpha) laid over the opaque ``bottom``."""
    alpha = top.alphaF()
    ups = (top.redF(), top.greenF(), top.blueF())
    downs = (bottom.redF(), bottom.greenF(), bottom.blueF())
    red, green, blue = (alpha * a + (1 - alpha) * b for a, b in zip(ups, downs, strict=True))
    return QColor.fromRgbF(red, green, blue)


def check_hits(window: MainWindow, dark: bool) -> None:
    c = colours_for(dark)
    base, text = QColor(c.base), QColor(c.text)
    selections = window.chat_view.extraSelections()
    assert len(selections) >= 2
    current = [s for s in selections if s.format.foreground().style() != Qt.BrushStyle.NoBrush]
    assert len(current) == 1
    assert current[0].format.background().color().name() == c.highlight
    assert current[0].format.foreground().color().name() == c.highlighted_text
    assert contrast(QColor(c.highlighted_text), QColor(c.highlight)) >= 4.5
    for other in (s for s in selections if s not in current):
        under = over(other.format.background().color(), base)
        assert contrast(text, under) >= 4.5, (under.name(), dark)
        assert under != base  # a hit is seen


def test_hits_read_in_both_themes(window: MainWindow, qtbot: QtBot) -> None:
    window.theme_actions["light"].trigger()
    try:
        window.open_conversation(chat_of(window.chat.store))
        window.input_box.setFocus()
        QTest.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
        field = QApplication.focusWidget()
        assert field is not None and field.accessibleName() == "Find in chat"
        qtbot.keyClicks(field, "hum")
        check_hits(window, dark=False)
        window.theme_actions["dark"].trigger()  # the bar stays open
        QApplication.processEvents()  # the palette change reaches the view as a posted event
        assert window.chat_view.palette().color(QPalette.ColorRole.Base).name() == "#141518"
        check_hits(window, dark=True)
    finally:
        window.theme_actions["system"].trigger()  # the app outlives the test: leave it as found
