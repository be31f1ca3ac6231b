"""Fixtures for the hostile-input suite: the real window offscreen with the real engine child,
and small helpers to type, send and wait like a user would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from tests.ui.driving import pick_in_combo

#: Generous: two CPU cores are shared with benchmarks and builds on the CI machine.
TIMEOUT_MS = 60_000


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot) -> Iterator[MainWindow]:
    win = build_window(home)
    win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=12)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    win.chat.store.close()


def send_and_wait(qtbot: QtBot, window: MainWindow, text: str) -> None:
    """Put text in the input box (as a paste would) and press Enter; wait for the answer."""
    window.input_box.setFocus()
    window.input_box.setPlainText(text)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


def bundled_still_answers(qtbot: QtBot, window: MainWindow) -> None:
    """After whatever went wrong, the bundled model is chosen and answers, in the same window."""
    assert window.chat.models[0].source == "bundled"
    pick_in_combo(window.model_picker, window.chat.models[0].id)  # for the chat on screen
    send_and_wait(qtbot, window, "Say hello.")
    assert window.conversation_id is not None
    last = window.chat.store.messages(window.conversation_id)[-1]
    assert last.role == Role.ASSISTANT
    assert last.status == MessageStatus.COMPLETE, last.error
    assert last.content.strip()
    assert window.isVisible()
