"""Windows open at their preferred size, or at what the screen they open on has room for: the
comparison window opened at 1280×820 on an 800-pixel-high screen, half its prompt box below the
screen's edge."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

#: Room left for the window's frame and title bar, and the desktop's panels.
WIDTH_SHARE = 0.96
HEIGHT_SHARE = 0.90


def fit_to_screen(window: QWidget, width: int, height: int) -> None:
    """Resize ``window`` to width × height, smaller where its screen (its parent's, else the
    primary one) has less room."""
    anchor = window.parentWidget() or window
    screen = anchor.screen() or QGuiApplication.primaryScreen()
    if screen is None:  # no screen at all (never on a desktop): the preferred size
        window.resize(width, height)
        return
    room = screen.availableGeometry()
    window.resize(
        min(width, int(room.width() * WIDTH_SHARE)), min(height, int(room.height() * HEIGHT_SHARE))
    )
