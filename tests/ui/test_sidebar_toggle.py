"""View → Show Sidebar in the real window: the menu entry and Ctrl+Shift+B fold the chat list
and bring it back, the splitter's handle does the same with the check following, Ctrl+K brings
a folded list back to search, and a window built again on the same home opens as it was left."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QSplitter
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from desktop.ui.sidebar_toggle import install_sidebar_toggle

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def splitter_of(window: MainWindow) -> QSplitter:
    splitter = window.sidebar.parentWidget()
    assert isinstance(splitter, QSplitter)
    return splitter


def sidebar_width(window: MainWindow) -> int:
    splitter = splitter_of(window)
    return splitter.sizes()[splitter.indexOf(window.sidebar)]


def view_entries(window: MainWindow) -> list[str]:
    menus = [m for m in window.menuBar().findChildren(QMenu) if m.title() == "&View"]
    assert len(menus) == 1
    return [a.text().replace("&", "") for a in menus[0].actions() if not a.isSeparator()]


def test_show_sidebar_folds_and_is_remembered(
    window: MainWindow, home: AppPaths, qtbot: QtBot
) -> None:
    toggle = install_sidebar_toggle(window)
    assert install_sidebar_toggle(window) is toggle  # installed once
    assert view_entries(window)[0] == "Show Sidebar"
    # On the shortcut sheet, and no other action of the window takes its keys.
    sheet = window.shortcut_list()
    assert ("Show Sidebar", "Ctrl+Shift+B") in sheet
    assert [what for what, keys in sheet if keys == "Ctrl+Shift+B"] == ["Show Sidebar"]
    assert toggle.action.isChecked() and sidebar_width(window) > 100

    toggle.action.trigger()  # View → Show Sidebar, unchecked
    assert not toggle.action.isChecked()
    assert sidebar_width(window) == 0
    assert window.chat.settings.get("sidebar_visible") is False

    # The keyboard: Ctrl+Shift+B brings it back at the width it had, and folds it again.
    window.activateWindow()
    window.input_box.setFocus()
    QTest.keyClick(window, Qt.Key.Key_B, CTRL_SHIFT)
    assert toggle.action.isChecked() and sidebar_width(window) > 100
    QTest.keyClick(window, Qt.Key.Key_B, CTRL_SHIFT)
    assert not toggle.action.isChecked() and sidebar_width(window) == 0
    window.close()
    window.chat.store.close()

    again = build_window(home)
    qtbot.addWidget(again)
    again.resize(1000, 600)
    again.show()
    qtbot.waitExposed(again)
    try:
        toggle = install_sidebar_toggle(again)
        assert not toggle.action.isChecked()
        assert sidebar_width(again) == 0  # opens folded, as it was left
        # Ctrl+K, search all chats: the list comes back, its search box focused.
        again.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is again)
        QTest.keyClick(again, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
        assert toggle.action.isChecked() and sidebar_width(again) > 100
        qtbot.waitUntil(lambda: QApplication.focusWidget() is again.sidebar.search_edit)
        assert again.chat.settings.get("sidebar_visible") is True
    finally:
        again.close()
        again.chat.store.close()


def drag_handle(window: MainWindow, to_x: int) -> None:
    """Press on the splitter's handle and drag it to ``to_x`` (in the splitter), as a mouse does."""
    splitter = splitter_of(window)
    handle = splitter.handle(1)
    start = QPoint(handle.width() // 2, handle.height() // 2)
    QTest.mousePress(handle, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    end = handle.mapFromParent(QPoint(to_x, handle.y() + start.y()))
    QTest.mouseMove(handle, end)
    QTest.mouseRelease(handle, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def test_the_handle_folds_it_and_the_check_follows(window: MainWindow) -> None:
    toggle = install_sidebar_toggle(window)
    drag_handle(window, 0)  # to the window's edge: the list folds
    assert sidebar_width(window) == 0
    assert not toggle.action.isChecked()
    assert window.chat.settings.get("sidebar_visible") is False
    drag_handle(window, 300)  # and out again
    assert sidebar_width(window) > 100
    assert toggle.action.isChecked()
    assert window.chat.settings.get("sidebar_visible") is True
    toggle.action.trigger()  # the menu folds it from the handle's width
    assert sidebar_width(window) == 0
    toggle.action.trigger()
    assert abs(sidebar_width(window) - 300) < 20
