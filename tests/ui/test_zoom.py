"""Text zoom from the keyboard: Ctrl+= and Ctrl++ make the chat's text (and the message box's)
larger, Ctrl+- smaller, Ctrl+0 normal again, as View → Zoom In / Zoom Out / Actual Size; the
size holds in a window built again on the same settings (a restart)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow

CTRL = Qt.KeyboardModifier.ControlModifier


def press(window: MainWindow, key: Qt.Key) -> None:
    window.activateWindow()
    window.chat_view.setFocus()
    QTest.keyClick(window, key, CTRL)


def sizes(window: MainWindow) -> tuple[float, float]:
    return window.chat_view.font().pointSizeF(), window.input_box.font().pointSizeF()


def test_zoom_keys_change_the_text_size_and_it_holds_after_a_restart(
    window: MainWindow, home: AppPaths, qtbot: QtBot
) -> None:
    view, box = sizes(window)
    assert window.menus.zoom_in_action.text().replace("&", "") == "Zoom In"
    press(window, Qt.Key.Key_Equal)
    assert sizes(window) == (view + 1, box + 1)
    press(window, Qt.Key.Key_Plus)
    assert sizes(window) == (view + 2, box + 2)
    press(window, Qt.Key.Key_Minus)
    assert sizes(window) == (view + 1, box + 1)
    press(window, Qt.Key.Key_0)
    assert sizes(window) == (view, box)
    for _ in range(3):
        press(window, Qt.Key.Key_Equal)
    assert sizes(window) == (view + 3, box + 3)
    window.close()

    again = build_window(home)
    qtbot.addWidget(again)
    try:
        assert sizes(again) == (view + 3, box + 3)
        again.show()
        qtbot.waitExposed(again)
        again.activateWindow()
        qtbot.waitUntil(again.isActiveWindow)
        press(again, Qt.Key.Key_0)
        assert sizes(again) == (view, box)
    finally:
        again.close()
        again.chat.store.close()
