"""Every window opens inside the screen it opens on: the comparison window opened at 1280×820
on an 800-pixel-high screen with half its prompt box below the edge (issue 22). The offscreen
platform's screen is 800×800 here; each window is opened through its menu item."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.storage.paths import AppPaths


def fits(widget: QWidget) -> bool:
    screen = widget.screen() or QApplication.primaryScreen()
    assert screen is not None
    room = screen.availableGeometry()
    return widget.width() <= room.width() and widget.height() <= room.height()


def test_the_main_window_and_the_windows_its_menus_open_fit_the_screen(
    home: AppPaths, qtbot: QtBot
) -> None:
    window = build_window(home)  # at its own size (the shared fixture resizes its window)
    qtbot.addWidget(window)
    window.show()
    window.menus.offline_action.trigger()  # nothing in this walk reaches the network
    assert fits(window)
    menus = window.menus
    actions: list[QAction] = [
        menus.models_action,
        menus.compare_action,
        menus.providers_action,
        menus.privacy_action,
    ]
    before = set(QApplication.topLevelWidgets())
    for action in actions:
        action.trigger()
        QApplication.processEvents()
    opened = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    assert len(opened) >= len(actions)
    for widget in opened:
        assert fits(widget), (
            f"{type(widget).__name__} opens at {widget.width()}×{widget.height()}, "
            f"larger than the screen"
        )
        widget.close()
    window.close()
