"""The real main window, offscreen, at a laptop-like size: shared by the window tests that do
not need anything special at start (a test module may still define its own ``window``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot) -> Iterator[MainWindow]:
    win = build_window(home)
    qtbot.addWidget(win)
    win.resize(1000, 600)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    win.chat.store.close()
