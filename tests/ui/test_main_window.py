"""The real window, offscreen, with the real engine: type, Enter, watch, stop, survive."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from tests.ui.driving import answer_modal, file_dialog_answer

TIMEOUT_MS = 60_000


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot) -> Iterator[MainWindow]:
    win = build_window(home)
    win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=30)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    win.chat.store.close()


def _type_and_enter(qtbot: QtBot, window: MainWindow, text: str) -> None:
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, text)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


def test_enter_sends_and_the_answer_streams_in_and_is_saved(
    window: MainWindow, qtbot: QtBot
) -> None:
    deltas: list[str] = []
    # While streaming, Stop is the live button and the text shows up piece by piece. Checked
    # as each piece arrives: a short answer may be over before a test could look.
    during: list[tuple[bool, bool, bool]] = []

    def on_delta(_c: int, _a: int, text: str) -> None:
        deltas.append(text)
        during.append(
            (
                window.stop_button.isEnabled(),
                window.send_button.isEnabled(),
                "".join(deltas) in window.chat_view.toPlainText(),
            )
        )

    window.chat.answer_delta.connect(on_delta)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        _type_and_enter(qtbot, window, "What is the capital of France?")
    assert len(deltas) >= 2
    # The window's slot was connected before ours, so each piece is on screen when we look.
    assert all(stop and not send for stop, send, _ in during)
    assert all(shown for _, _, shown in during)
    assert window.input_box.toPlainText() == ""
    answer_text = "".join(deltas).strip()
    assert answer_text
    shown = window.chat_view.toPlainText()
    assert "What is the capital of France?" in shown
    assert answer_text.splitlines()[0].strip() in shown
    assert window.conversation_id is not None
    messages = window.chat.store.messages(window.conversation_id)
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT]
    assert messages[1].status == MessageStatus.COMPLETE
    assert messages[1].content.strip() == answer_text
    assert "tok/s" in window.speed_label.text()
    assert "CPU" in window.engine_label.text() or "GPU" in window.engine_label.text()
    assert window.send_button.isEnabled() and not window.stop_button.isEnabled()
    # The conversation got its title from the first message.
    assert window.conversation_list.currentItem().text() == "What is the capital of France?"


def test_shift_enter_makes_a_new_line_and_empty_text_is_not_sent(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "line one")
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.input_box, "line two")
    assert window.input_box.toPlainText() == "line one\nline two"
    window.input_box.clear()
    qtbot.keyClicks(window.input_box, "   ")
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert not window.chat.busy
    assert window.conversation_id is not None
    assert window.chat.store.messages(window.conversation_id) == []


def test_stop_mid_answer(window: MainWindow, qtbot: QtBot) -> None:
    window.chat.sampling = SamplingParams(temperature=0.8, seed=11, max_tokens=2000)
    deltas: list[str] = []
    window.chat.answer_delta.connect(lambda _c, _a, t: deltas.append(t))
    _type_and_enter(qtbot, window, "Tell me a very long story about a llama.")
    qtbot.waitUntil(lambda: len(deltas) >= 5, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=5_000):
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    assert window.conversation_id is not None
    answer = window.chat.store.messages(window.conversation_id)[-1]
    assert answer.status == MessageStatus.STOPPED
    assert answer.content == "".join(deltas)
    assert "Stopped" in window.chat_view.toPlainText()
    assert window.send_button.isEnabled()


def test_engine_abort_mid_answer_window_survives(window: MainWindow, qtbot: QtBot) -> None:
    window.chat.sampling = SamplingParams(temperature=0.8, seed=12, max_tokens=2000)
    deltas: list[str] = []
    window.chat.answer_delta.connect(lambda _c, _a, t: deltas.append(t))
    _type_and_enter(qtbot, window, "Tell me a very long story about a llama.")
    qtbot.waitUntil(lambda: len(deltas) >= 3, timeout=TIMEOUT_MS)
    pid = window.chat.engine.pid
    assert pid is not None
    with qtbot.waitSignal(window.chat.answer_finished, timeout=10_000):
        os.kill(pid, signal.SIGABRT)
    assert window.isVisible()
    assert window.banner.isVisible()
    assert "SIGABRT" in window.banner.label.text()
    assert window.conversation_id is not None
    answer = window.chat.store.messages(window.conversation_id)[-1]
    assert answer.status == MessageStatus.FAILED
    assert answer.content.startswith("".join(deltas[:3]))
    assert "Failed" in window.chat_view.toPlainText()

    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=10)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        _type_and_enter(qtbot, window, "Hello again")
    last = window.chat.store.messages(window.conversation_id)[-1]
    assert last.status == MessageStatus.COMPLETE and last.content
    assert window.chat.engine.pid != pid


@pytest.mark.parametrize("kind", ["random", "truncated"])
def test_a_file_that_is_no_model_is_refused_when_it_is_opened(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str, kind: str
) -> None:
    """Model → Open GGUF file… checks the file there and then: refused with the reason, it is
    not listed, and the chat keeps its model (the reason used to come after a message)."""
    bad = tmp_path / f"{kind}.gguf"
    if kind == "random":
        bad.write_bytes(os.urandom(200_000))
    else:
        bad.write_bytes(Path(smollm_path).read_bytes()[:2_000_000])
    before = window.model_picker.currentData()
    failures = answer_modal(file_dialog_answer(bad), QFileDialog)
    window.open_model_action.trigger()
    assert not failures, failures
    assert window.banner.isVisible()
    message = window.banner.label.text()
    assert message.startswith(f"Cannot load {kind}.gguf: ") and message.endswith(
        "It was not added."
    )
    assert ("not a GGUF model file" if kind == "random" else "incomplete") in message, message
    assert window.model_picker.findData(f"local:{kind}") < 0
    assert all(m.path != str(bad) for m in window.chat.models)
    assert window.model_picker.currentData() == before
    assert window.chat.store.user_models() == []


@pytest.mark.parametrize("kind", ["truncated", "missing"])
def test_a_model_file_spoilt_after_it_was_added_fails_with_history_kept(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str, kind: str
) -> None:
    """A file that was fine when opened and is cut short or deleted later: the message names
    it, the question stays, the answer is marked failed."""
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        _type_and_enter(qtbot, window, "First question")
    bad = tmp_path / f"{kind}.gguf"
    shutil.copyfile(smollm_path, bad)
    failures = answer_modal(file_dialog_answer(bad), QFileDialog)
    window.open_model_action.trigger()
    assert not failures, failures
    assert window.model_picker.currentText().startswith(kind)
    if kind == "truncated":
        bad.write_bytes(Path(smollm_path).read_bytes()[:2_000_000])
    else:
        bad.unlink()
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        _type_and_enter(qtbot, window, "Second question")
    assert window.banner.isVisible()
    message = window.banner.label.text()
    assert f"{kind}.gguf" in message
    assert "Failed to load model" not in message
    assert window.conversation_id is not None
    history = window.chat.store.messages(window.conversation_id)
    assert [m.content for m in history if m.role == Role.USER] == [
        "First question",
        "Second question",
    ]
    assert history[1].status == MessageStatus.COMPLETE
    assert history[-1].status == MessageStatus.FAILED


def test_too_long_paste_is_refused_before_sending(window: MainWindow, qtbot: QtBot) -> None:
    text = "hello " * 170_000  # ~1 MB, far past the 4,096-token context
    window.input_box.setPlainText(text)
    with qtbot.waitSignal(window.chat.rejected, timeout=TIMEOUT_MS):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert "too long for this model's context" in window.banner.label.text()
    assert "limit 4096" in window.banner.label.text()
    assert window.input_box.toPlainText() == text  # nothing lost
    assert window.conversation_id is not None
    assert window.chat.store.messages(window.conversation_id) == []
    assert not window.chat.busy


def test_returned_text_keeps_a_draft_typed_meanwhile(window: MainWindow) -> None:
    assert window.conversation_id is not None
    window.input_box.setPlainText("my next question")
    window.chat.rejected.emit(window.conversation_id, "the long text", "too long")
    assert window.input_box.toPlainText() == "the long text\n\nmy next question"
    assert window.banner.label.text() == "too long"


def chat_titles(window: MainWindow) -> list[str]:
    """The sidebar's chats (not its date headers)."""
    items = [window.conversation_list.item(i) for i in range(window.conversation_list.count())]
    return [i.text() for i in items if i.data(Qt.ItemDataRole.UserRole) is not None]


def test_new_rename_delete_with_undo(window: MainWindow, qtbot: QtBot) -> None:
    first = window.conversation_id
    # The start-up chat has a message (New chat reuses an empty new chat on screen).
    window.chat.store.add_message(first or 0, Role.USER, "Hello")
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    second = window.conversation_id
    assert second != first and len(chat_titles(window)) == 2
    assert window.conversation_list.item(0).text() == "Today"  # grouped by date

    def rename(widget: QWidget) -> None:
        assert isinstance(widget, QInputDialog)
        widget.setTextValue("Renamed")
        widget.accept()

    failures = answer_modal(rename, QInputDialog)
    window.rename_action.trigger()
    assert not failures, failures
    assert window.conversation_list.currentItem().text() == "Renamed"

    # Delete at once, with Undo for a while.
    window.delete_action.trigger()
    assert chat_titles(window) == ["New chat"] and window.conversation_id == first
    assert window.undo_bar.isVisibleTo(window) and "Renamed" in window.undo_bar.label.text()
    window.undo_bar.undo_button.click()
    assert window.conversation_id == second and "Renamed" in chat_titles(window)
    window.delete_action.trigger()
    window.close()  # closing ends the Undo time: the chat is gone for good
    assert [c.id for c in window.chat.store.list_conversations()] == [first]
    assert window.chat.store.purge_deleted() == 0


def test_history_is_shown_after_restart(home: AppPaths, qtbot: QtBot) -> None:
    win = build_window(home)
    win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=12)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.chat.answer_finished, timeout=TIMEOUT_MS):
        _type_and_enter(qtbot, win, "Remember me")
    answer = win.chat.store.messages(win.conversation_id or 0)[-1].content
    win.close()
    win.chat.store.close()

    again = build_window(home)
    qtbot.addWidget(again)
    text = again.chat_view.toPlainText()
    assert "Remember me" in text
    assert answer.split()[0] in text
    again.close()
    again.chat.store.close()


def test_no_model_keeps_the_text_and_says_what_to_do(window: MainWindow, qtbot: QtBot) -> None:
    window.chat.models = []  # as on a machine without the bundled model or any GGUF
    _type_and_enter(qtbot, window, "Hello?")
    assert "No model is available" in window.banner.label.text()
    assert window.input_box.toPlainText() == "Hello?"
    assert "Hello?" not in window.chat_view.toPlainText()
    assert window.conversation_id is not None
    assert window.chat.store.messages(window.conversation_id) == []
