"""Every control a keyboard or screen-reader user meets has a name: its own text (buttons,
check boxes) or an accessible name (fields, lists, pickers), in every window and dialog."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from desktop.ui.presets_dialog import PresetsDialog
from tests.ui.test_preferences import open_cloud_keys

CONTROLS = (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
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
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or not widget.isVisibleTo(root):
            continue
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
