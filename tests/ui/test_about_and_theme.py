"""Help → About Llamaside and About Qt through their menu items, the window icon a pip install
shows, and View → Theme "Follow the system" following a live switch of the system's scheme."""

from __future__ import annotations

import importlib.metadata

from PySide6.QtCore import QSize, Qt, QTimer, qVersion
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop import __version__
from desktop.ui.about_dialog import AboutDialog
from desktop.ui.icons import shipped_icon
from desktop.ui.main_window import MainWindow
from tests.hostile.conftest import send_and_wait


def test_about_names_the_versions_backend_and_licences(window: MainWindow, qtbot: QtBot) -> None:
    window.about_action.trigger()
    dialog = window.findChild(AboutDialog)
    assert dialog is not None and dialog.isVisible()
    text = dialog.text.text()
    assert __version__ in text and qVersion() in text
    assert f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}" in text
    assert "its backend shows once a model loads" in text  # no engine started yet
    assert "MIT" in text and "LGPL-3.0" in text and "Apache-2.0" in text
    assert str(window.chat.store.path) in text
    dialog.close()

    send_and_wait(qtbot, window, "Hi")
    window.about_action.trigger()
    again = [d for d in window.findChildren(AboutDialog) if d.isVisible()]
    assert len(again) == 1 and ", running on CPU" in again[0].text.text()
    again[0].close()


def test_about_qt_opens_qts_own_box(window: MainWindow, qtbot: QtBot) -> None:
    seen: list[str] = []

    def close_it() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, close_it)
            return
        seen.append(box.windowTitle())
        box.close()

    QTimer.singleShot(20, close_it)
    window.about_qt_action.trigger()  # modal: returns once closed
    assert seen and "Qt" in seen[0]


def test_the_shipped_icon_has_every_size() -> None:
    icon = shipped_icon()
    assert not icon.isNull()
    assert QSize(256, 256) in icon.availableSizes() and QSize(16, 16) in icon.availableSizes()


def _dark(app: QApplication) -> bool:
    return app.palette().window().color().lightness() < 128


def test_following_the_system_follows_a_live_switch(window: MainWindow, qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    hints = app.styleHints()
    window.theme_actions["system"].trigger()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # as the platform does on a switch
    assert _dark(app)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not _dark(app)
    window.theme_actions["light"].trigger()  # a chosen theme stays whatever the system does
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not _dark(app)
