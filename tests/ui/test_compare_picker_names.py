"""The comparison window's model pickers say when a name is cut: at 1180 px they read
"SmolLM2 135M Instruct (" with no sign that more followed. A name longer than its picker is
drawn with "…", and the whole name is in the picker's tooltip."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionComboBox
from pytestqt.qtbot import QtBot

from desktop.ui.fitting_combo import FittingCombo
from desktop.ui.main_window import MainWindow


@pytest.mark.parametrize("size", [(1180, 760), (800, 600)], ids=["1180x760", "800x600"])
@pytest.mark.parametrize("columns", [2, 4])
def test_a_cut_model_name_says_so(
    window: MainWindow, qtbot: QtBot, size: tuple[int, int], columns: int
) -> None:
    window.compare_action.trigger()  # Compare → New comparison window, as the user opens it
    compare = window.compare_window
    assert compare is not None
    compare.resize(*size)
    qtbot.waitExposed(compare)
    while sum(p.isVisible() for p in compare.pickers) < columns:
        qtbot.mouseClick(compare.add_button, Qt.MouseButton.LeftButton)
    model = window.model_picker.currentData()
    for picker in compare.pickers:  # the bundled model in every column, as the user picks it
        if picker.isVisible():
            picker.setCurrentIndex(picker.findData(model))
            picker.activated.emit(picker.currentIndex())
    QApplication.processEvents()
    shown_pickers = [p for p in compare.pickers if p.isVisible() and p.currentIndex() >= 0]
    assert len(shown_pickers) == columns
    cut = 0
    for picker in shown_pickers:
        assert isinstance(picker, FittingCombo)
        entry = picker.currentText()
        assert entry.startswith("SmolLM2 135M Instruct")
        option = QStyleOptionComboBox()
        picker.initStyleOption(option)
        room = picker.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox,
            option,
            QStyle.SubControl.SC_ComboBoxEditField,
            picker,
        )
        shown = picker.shown()
        assert picker.fontMetrics().horizontalAdvance(shown) <= room.width()
        if picker.fontMetrics().horizontalAdvance(entry) > room.width():
            assert shown.endswith("…") and entry.startswith(shown[:-1]), (shown, entry)
            cut += 1
        else:
            assert shown == entry
        assert entry in picker.toolTip()  # the whole name, however it is drawn
    if columns == 2:  # the window keeps the size asked: the pickers do not push it wider
        assert compare.width() == size[0]
    if size[0] == 800 and columns == 4:
        assert cut == columns  # four whole names do not fit (four columns need 891 px)
