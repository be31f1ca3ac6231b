"""The model picker shows its model's whole entry where the window has room (it read
"SmolLM2 135M Instruct (bundled) · 98", its "MB" cut off beside free space), and says it is
cut ("…") where it has not."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QComboBox, QStyleOptionComboBox
from pytestqt.qtbot import QtBot

from desktop.ui.main_window import MainWindow


@pytest.mark.parametrize("width", [800, 1100, 1280])
def test_the_picker_shows_its_entry_whole_or_says_it_is_cut(
    window: MainWindow, qtbot: QtBot, width: int
) -> None:
    window.resize(width, 600)
    window.show()
    qtbot.waitExposed(window)
    QApplication.processEvents()
    picker = window.model_bar.picker
    entry = picker.currentText()
    assert "MB" in entry  # the bundled model's entry names its size
    shown = picker.shown()
    if width >= 1280:  # room for the entry beside the privacy words, which come first
        assert shown == entry
    else:
        assert shown == entry or shown.endswith("…")
    room = picker.style().subControlRect(
        picker.style().ComplexControl.CC_ComboBox,
        _option(picker),
        picker.style().SubControl.SC_ComboBoxEditField,
        picker,
    )
    assert picker.fontMetrics().horizontalAdvance(shown) <= room.width()


def _option(picker: QComboBox) -> QStyleOptionComboBox:
    option = QStyleOptionComboBox()
    picker.initStyleOption(option)
    return option
