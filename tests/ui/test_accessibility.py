"""Every control a keyboard or screen-reader user meets has a name: its own text (buttons,
check boxes), an accessible name (fields, lists, pickers, sliders) or a label that is its buddy,
in every window and dialog (each page and tab of them), opened as the user opens them; and the
keyboard alone tours the main window: Tab from the message box through the sidebar's search,
the model picker and Send back to the message box, a folded sidebar skipped.

A message's actions by keyboard (Menu / Shift+F10 in the chat): test_hover_actions.py's
test_the_keyboard_reaches_every_action."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from desktop.ui.model_settings_dialog import ModelSettingsDialog
from desktop.ui.presets_dialog import PresetsDialog
from tests.ui.test_preferences import go_to, open_cloud_keys, open_preferences

CONTROLS = (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QAbstractSlider,
)


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot) -> Iterator[MainWindow]:
    win = build_window(home)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    win.chat.store.close()


def unnamed(root: QWidget) -> list[str]:
    missing = []
    # A label that names a field (its buddy, as setBuddy or a form layout's row sets it).
    labelled = {
        id(label.buddy()) for label in root.findChildren(QLabel) if label.buddy() and label.text()
    }
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or not widget.isVisibleTo(root):
            continue
        if isinstance(widget, QScrollBar) or id(widget) in labelled:
            continue  # a scroll area's own bar; a field its label names
        if isinstance(widget, QLineEdit) and isinstance(widget.parent(), (QComboBox,)):
            continue  # an editable combo's inner field: the combo carries the name
        if isinstance(widget.parent(), QAbstractSpinBox) or isinstance(widget, QHeaderView):
            continue  # parts of a control that carries the name
        if widget.objectName().startswith("qt_"):
            continue  # Qt's own parts (a table's corner button)
        if isinstance(widget, QAbstractButton) and isinstance(widget.parent(), QAbstractItemView):
            continue  # the same corner button, which Qt 6.8 leaves without an object name
        text = widget.text() if isinstance(widget, QAbstractButton) else ""
        if not (widget.accessibleName() or text.replace("&", "").strip()):
            missing.append(
                f"{type(widget).__name__} {widget.objectName()!r} in {root.windowTitle()}"
            )
    return missing


def test_every_control_has_a_name(window: MainWindow, qtbot: QtBot) -> None:
    roots: list[QWidget] = [window]
    # Each window and dialog opened as the user opens it: its menu item, or its button.
    window.models_action.trigger()
    roots.append(window.models_dialog)  # type: ignore[arg-type]
    roots.append(open_cloud_keys(window).window())  # Preferences, each of its pages
    window.privacy_action.trigger()
    roots.append(window.privacy_dialog)  # type: ignore[arg-type]
    window.compare_action.trigger()
    roots.append(window.compare_window)  # type: ignore[arg-type]
    window.leaderboard_action.trigger()
    roots.append(window.leaderboard_dialog)  # type: ignore[arg-type]
    window.backend_action.trigger()
    backend = window.backend_dialog
    assert backend is not None
    qtbot.waitUntil(lambda: backend.report is not None, timeout=60_000)
    roots.append(backend)
    qtbot.mouseClick(window.presets_button, Qt.MouseButton.LeftButton)
    presets = window.findChild(PresetsDialog)
    assert presets is not None
    qtbot.waitExposed(presets)
    roots.append(presets)
    missing = [name for root in roots for name in unnamed(root)]
    assert missing == [], "\n".join(missing)


def test_every_page_and_tab_names_its_controls(window: MainWindow, qtbot: QtBot) -> None:
    """Preferences (Ctrl+,) page by page, the model manager tab by tab, and Model → Load
    settings for this model…: a page or tab not on screen hides its controls from the sweep
    above, so each is shown in turn, as the user shows it."""
    missing: list[str] = []
    preferences = open_preferences(window, qtbot)
    for row in range(preferences.page_list.count()):
        item = preferences.page_list.item(row)
        assert item is not None
        go_to(preferences, item.text())
        missing += [f"{name} · {item.text()}" for name in unnamed(preferences)]
    preferences.close()
    window.models_action.trigger()
    manager = window.models_dialog
    assert manager is not None
    bar = manager.tabs.tabBar()
    for index in range(manager.tabs.count()):
        QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
        assert manager.tabs.currentIndex() == index
        missing += [f"{name} · {bar.tabText(index)}" for name in unnamed(manager)]
    manager.close()
    window.model_settings_action.trigger()  # type: ignore[attr-defined]
    dialogs = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, ModelSettingsDialog) and w.isVisible()
    ]
    assert len(dialogs) == 1
    missing += unnamed(dialogs[0])
    dialogs[0].close()
    assert missing == [], "\n".join(missing)


def tab_tour(window: MainWindow, key: Qt.Key = Qt.Key.Key_Tab) -> list[QWidget]:
    """The widgets Tab (or Shift+Tab) gives the focus to, from the message box round to it."""
    start = window.input_box
    start.setFocus(Qt.FocusReason.OtherFocusReason)
    assert QApplication.focusWidget() is start
    stops: list[QWidget] = []
    modifier = Qt.KeyboardModifier.ShiftModifier if key == Qt.Key.Key_Backtab else None
    for _ in range(80):
        here = QApplication.focusWidget()
        assert here is not None
        if modifier is None:
            QTest.keyClick(here, Qt.Key.Key_Tab)
        else:
            QTest.keyClick(here, Qt.Key.Key_Backtab, modifier)
        now = QApplication.focusWidget()
        assert now is not None
        if now is start:
            return stops
        if not stops or stops[-1] is not now:  # a chat's links take a Tab each
            stops.append(now)
    raise AssertionError(f"Tab never came back to the message box: {stops}")


def test_tab_tours_the_main_window_and_back(window: MainWindow, qtbot: QtBot) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClicks(window.input_box, "Hello")  # Send is enabled: there is something to send
    sidebar = window.sidebar
    wanted = [sidebar.search_edit, sidebar.new_button, window.model_picker, window.send_button]
    stops = tab_tour(window)
    for widget in wanted:
        assert widget in stops, widget.accessibleName()
    assert window.input_box.toPlainText() == "Hello"  # Tab moved on, it typed nothing
    for stop in stops:  # every stop is on screen and says what it is
        assert stop.isVisible() and stop.width() > 0, stop.accessibleName()
        text = stop.text() if isinstance(stop, QAbstractButton) else ""
        assert stop.accessibleName() or text, type(stop).__name__
    back = tab_tour(window, Qt.Key.Key_Backtab)
    assert set(back) == set(stops)  # Shift+Tab goes the same round the other way

    # View → Show Sidebar by its keys (Ctrl+Shift+B): folded, Tab no longer enters the list.
    fold = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    QTest.keyClick(window.input_box, Qt.Key.Key_B, fold)
    assert not window.sidebar_toggle.shown  # type: ignore[attr-defined]
    folded = tab_tour(window)
    assert not [w for w in folded if sidebar.isAncestorOf(w)], folded
    assert window.model_picker in folded and window.send_button in folded
    # Ctrl+K (search all chats) brings it back with the focus in its search box.
    QTest.keyClick(window.input_box, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar_toggle.shown  # type: ignore[attr-defined]
    assert QApplication.focusWidget() is sidebar.search_edit
    assert sidebar.search_edit in tab_tour(window)


def test_tab_tours_preferences_opened_by_ctrl_comma(window: MainWindow, qtbot: QtBot) -> None:
    """Ctrl+, opens Preferences; from its page list Tab goes through the page's controls and
    Close and comes back; the arrow keys change the page, and Esc closes it."""
    dialog = open_preferences(window, qtbot)
    qtbot.waitUntil(dialog.isActiveWindow)
    dialog.page_list.setFocus(Qt.FocusReason.OtherFocusReason)
    QTest.keyClick(dialog.page_list, Qt.Key.Key_Down)  # Appearance → Chat
    assert dialog.current_page == "chat"
    stops: list[QWidget] = []
    for _ in range(40):
        here = QApplication.focusWidget()
        assert here is not None
        QTest.keyClick(here, Qt.Key.Key_Tab)
        now = QApplication.focusWidget()
        assert now is not None and now.window() is dialog
        if now is dialog.page_list:
            break
        stops.append(now)
    else:
        raise AssertionError(f"Tab never came back to the page list: {stops}")
    page = dialog.pages["chat"]
    assert any(page.isAncestorOf(w) for w in stops)  # the page's own controls
    assert any(isinstance(w, QAbstractButton) and w.text() == "Close" for w in stops)
    for stop in stops:
        assert stop.isVisible(), stop.accessibleName()
    QTest.keyClick(dialog.page_list, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
