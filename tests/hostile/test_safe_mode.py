"""A machine whose llama.cpp fast path crashes (seen: AMX on a Xeon segfaulting at the first
decode), in the real window: the first message is answered anyway, the status bar says safe
mode, the next start uses it without crashing again, and Model → GPU backend… tries the fast
path again. The switch LLAMASIDE_TEST_CRASH_WITH_EXTRA_BUFTS makes the engine child crash on cue
(only while extra buffer types are on, or in every mode), so this runs on any machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.backends.engine_modes import ModeMemory
from desktop.core.messages import MessageStatus
from desktop.core.params import SamplingParams
from desktop.engine.llama_setup import TEST_CRASH_ENV
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from tests.hostile.conftest import TIMEOUT_MS, send_and_wait


@pytest.fixture
def open_window(home: AppPaths, qtbot: QtBot) -> Iterator[list[MainWindow]]:
    """Windows made by the test (one per app start), closed at the end."""
    windows: list[MainWindow] = []
    yield windows
    for win in windows:
        win.close()
        win.chat.store.close()


def _start(home: AppPaths, qtbot: QtBot, windows: list[MainWindow]) -> MainWindow:
    win = build_window(home)
    win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=12)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    windows.append(win)
    return win


def _last_answer_complete(window: MainWindow) -> str:
    assert window.conversation_id is not None
    answer = window.chat.store.messages(window.conversation_id)[-1]
    assert answer.status == MessageStatus.COMPLETE, answer.error
    assert answer.content.strip()
    return answer.content


def test_first_message_answered_safe_mode_shown_remembered_and_fast_path_tried_again(
    home: AppPaths, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, open_window: list[MainWindow]
) -> None:
    monkeypatch.setenv(TEST_CRASH_ENV, "decode")
    first = _start(home, qtbot, open_window)
    assert not first.safe_mode_label.isVisible()
    notes: list[str] = []
    first.chat.safe_mode_changed.connect(lambda _short, note, _detail: notes.append(note))
    send_and_wait(qtbot, first, "What is the capital of France?")
    _last_answer_complete(first)
    assert not first.banner.isVisible()  # invisible apart from the note
    assert len(notes) == 1 and notes[0].startswith("safe mode: llama.cpp's ")
    assert first.safe_mode_label.isVisible()
    assert first.safe_mode_label.text().startswith("Safe mode: ")  # a few words, the rest:
    assert "Safe mode: llama.cpp's " in first.safe_mode_label.toolTip()
    assert "SIGSEGV" in first.safe_mode_label.toolTip()
    assert ModeMemory(home.engine_modes).get() is not None
    first.close()

    # The next start: the note at once, and the first message loads in safe mode, no crash.
    again = _start(home, qtbot, open_window)
    assert again.safe_mode_label.isVisible()
    notes.clear()
    again.chat.safe_mode_changed.connect(lambda _short, note, _detail: notes.append(note))
    send_and_wait(qtbot, again, "And of Italy?")
    _last_answer_complete(again)
    assert notes == []
    assert "safe mode" in again.engine_label.text()

    # Model → GPU backend… shows it, and its button tries the fast path again.
    again.backend_action.trigger()
    dialog = again.backend_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=TIMEOUT_MS)
    assert dialog.safe_mode_box.isVisible()
    assert "crashed" in dialog.safe_mode_text.text()
    qtbot.mouseClick(dialog.fast_path_button, Qt.MouseButton.LeftButton)
    assert not dialog.safe_mode_box.isVisible()
    assert not again.safe_mode_label.isVisible()
    assert ModeMemory(home.engine_modes).get() is None
    dialog.close()

    # It really takes the fast path: the switch crashes it there, and it falls back again.
    send_and_wait(qtbot, again, "And of Spain?")
    _last_answer_complete(again)
    assert notes[0] == ""  # the button cleared it
    assert notes[1:] == [notes[1]] and notes[1].startswith("safe mode: ")
    assert again.safe_mode_label.isVisible()
    assert ModeMemory(home.engine_modes).get() is not None


def test_a_model_that_crashes_in_every_mode_is_named_and_marked_failed(
    home: AppPaths, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, open_window: list[MainWindow]
) -> None:
    monkeypatch.setenv(TEST_CRASH_ENV, "always-decode")
    window = _start(home, qtbot, open_window)
    model = window.chat.model_of(window.conversation_id)
    assert model is not None
    send_and_wait(qtbot, window, "Hello")
    assert window.conversation_id is not None
    answer = window.chat.store.messages(window.conversation_id)[-1]
    assert answer.status == MessageStatus.FAILED
    shown = window.banner.label.text()
    assert "crashed the engine" in shown and "crashed in safe mode too" in shown
    assert answer.error == shown
    assert window.chat.model_error(model) == shown  # never auto-loaded again
    assert ModeMemory(home.engine_modes).get() is None  # the machine is not to blame
    assert not window.safe_mode_label.isVisible()
