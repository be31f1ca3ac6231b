"""A chat that outgrows the model's context, in the real window: the user is asked, picks
"Summarise the oldest and send", and the message goes after the model has summarised."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.core.messages import MessageStatus, Role
from desktop.core.params import LoadParams, SamplingParams
from desktop.ui.main_window import MainWindow


def click_when_shown(button_text: str, seen: list[str]) -> None:
    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or box.objectName() != "outgrownDialog":
            QTimer.singleShot(20, click)
            return
        seen.extend(b.text() for b in box.buttons())
        next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(20, click)


def test_outgrown_chat_offers_summarise_and_sends_after_it(
    window: MainWindow, qtbot: QtBot
) -> None:
    chat = window.chat
    chat.load_params = LoadParams(n_ctx=256, n_threads=2)
    chat.sampling = SamplingParams(temperature=0.0, max_tokens=16)
    store = chat.store
    conv = store.create_conversation("Long one")
    for i in range(8):
        store.add_message(conv.id, Role.USER, f"Question {i}: " + "tell me about llamas " * 6)
        store.add_message(
            conv.id, Role.ASSISTANT, f"Answer {i}: " + "llamas are camelids " * 6, model="local:x"
        )
    window.open_conversation(conv.id)
    buttons: list[str] = []
    click_when_shown("Summarise the oldest and send", buttons)
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "And alpacas?")
    with qtbot.waitSignal(chat.summarised, timeout=60_000):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert set(buttons) == {
        "Summarise the oldest and send",
        "Drop the oldest and send",
        "Send in a new chat",
        "Cancel",
    }
    qtbot.waitUntil(lambda: not chat.busy, timeout=60_000)
    messages = store.messages(conv.id)
    assert len(messages) == 18
    assert (messages[-2].role, messages[-2].content) == (Role.USER, "And alpacas?")
    assert messages[-1].status == MessageStatus.COMPLETE
    summary = store.get_conversation(conv.id).context_summary
    assert "earlier messages summarised" in window.context_label.text()
    assert summary.strip() in window.context_label.toolTip()
    assert window.input_box.toPlainText() == ""
