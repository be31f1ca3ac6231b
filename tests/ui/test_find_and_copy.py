"""Find in chat (Ctrl+F: a hit count, Enter / Shift+Enter, Esc back to the message box) and
copying a whole answer from the chat view's context menu, as Markdown or as plain text, in the
real window, offscreen."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.history_format import EXPORT_FORMAT
from desktop.storage.store import ChatStore
from desktop.ui.main_window import MainWindow
from desktop.ui.message_copy import markdown_to_plain
from tests.ui.driving import when_shown

MODEL = "local:smollm2-135m-instruct"
ANSWER = "Llamas **hum** to _talk_:\n\n- a soft hum\n- a `loud` hum\n\n```\nhum()\n```"
MESSAGES = [
    ("user", "Why do llamas hum?"),
    ("assistant", ANSWER),
    ("user", "Hum again, louder: HUM."),
    ("assistant", "They hum when calm."),
]


def chat_of(store: ChatStore) -> int:
    messages = [
        {"role": role, "content": content, "model": MODEL, "created": "2025-01-01"}
        for role, content in MESSAGES
    ]
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Humming", "created": "2025-01-01", "updated": "2025-01-01",
         "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = store.import_conversations(data)
    return conversation_id


def _count(window: MainWindow) -> str:
    """The hit count as the find bar shows it."""
    label = window.find_bar.count_label
    assert label.isVisible()
    return label.text()


def test_ctrl_f_finds_steps_and_esc_gives_the_focus_back(window: MainWindow, qtbot: QtBot) -> None:
    window.open_conversation(chat_of(window.chat.store))
    expected = window.chat_view.toPlainText().lower().count("hum")
    assert expected >= 6
    window.input_box.setFocus()
    QTest.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    field = QApplication.focusWidget()
    assert field is not None and field.accessibleName() == "Find in chat"
    qtbot.keyClicks(field, "hum")
    assert _count(window) == f"1 of {expected}"
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert _count(window) == f"2 of {expected}"
    qtbot.keyClick(field, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert _count(window) == f"1 of {expected}"
    qtbot.keyClick(field, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert _count(window) == f"{expected} of {expected}"  # round to the last
    qtbot.keyClick(field, Qt.Key.Key_F3)
    assert _count(window) == f"1 of {expected}"
    # Every hit highlighted in the view, the current one selected.
    assert len(window.chat_view.extraSelections()) == expected
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert not field.isVisible()
    assert QApplication.focusWidget() is window.input_box
    assert window.chat_view.extraSelections() == []


def _copy_from_menu(window: MainWindow, text_in_answer: str, entry: str) -> list[str]:
    """Right-click the answer's words in the view and choose ``entry`` from the menu."""
    view = window.chat_view
    cursor = view.document().find(text_in_answer)
    assert not cursor.isNull()
    view.setTextCursor(cursor)
    view.ensureCursorVisible()
    pos = view.cursorRect(cursor).center()
    shown: list[str] = []
    failures: list[str] = []

    def popup() -> QWidget | None:
        widget = QApplication.activePopupWidget()
        return widget if isinstance(widget, QMenu) else None

    def click(widget: QWidget) -> None:
        assert isinstance(widget, QMenu)
        actions = [a for a in widget.actions() if not a.isSeparator()]
        shown.extend(a.text().replace("&", "").split("\t")[0] for a in actions)
        chosen = next((a for a, text in zip(actions, shown, strict=True) if text == entry), None)
        if chosen is None:
            widget.close()
            raise AssertionError(f"no {entry!r} in the menu: {shown}")
        QTest.mouseClick(
            widget, Qt.MouseButton.LeftButton, pos=widget.actionGeometry(chosen).center()
        )

    when_shown(popup, click, failures)
    viewport = view.viewport()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos))
    QApplication.sendEvent(viewport, event)
    QTest.qWait(200)
    assert not failures, failures
    return shown


def test_an_answer_copies_whole_as_markdown_and_as_plain_text(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.open_conversation(chat_of(window.chat.store))
    clipboard = QApplication.clipboard()
    clipboard.setText("")
    _copy_from_menu(window, "a soft hum", "Copy as Markdown")
    qtbot.waitUntil(lambda: clipboard.text() == ANSWER)

    clipboard.setText("")
    _copy_from_menu(window, "a soft hum", "Copy as plain text")
    qtbot.waitUntil(lambda: clipboard.text() != "")
    plain = clipboard.text()
    for words in ("Llamas hum to talk:", "a soft hum", "a loud hum", "hum()"):
        assert words in plain
    for mark in ("**", "_talk_", "`", "- a"):
        assert mark not in plain
    assert plain == markdown_to_plain(ANSWER)

    # The other answer copies its own text; a question offers no answer copies.
    clipboard.setText("")
    _copy_from_menu(window, "They hum when calm", "Copy as Markdown")
    qtbot.waitUntil(lambda: clipboard.text() == "They hum when calm.")
    shown = _copy_from_menu(window, "Why do llamas hum", "Select All")
    assert "Copy as Markdown" not in shown


def test_find_in_chat_is_in_the_chat_menu(window: MainWindow) -> None:
    chat_menu = window.menus.chat_menu
    assert isinstance(chat_menu, QMenu)
    found = [a for a in chat_menu.actions() if a.text() == "&Find in chat…"]
    assert found and found[0].shortcut().toString() == "Ctrl+F"
