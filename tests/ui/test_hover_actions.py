"""The hover toolbar over a message (copy, edit, regenerate, versions) and the same actions
from the keyboard: Alt+Down to a message, the Menu key for its context menu."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QMessageBox, QToolButton, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.history_format import EXPORT_FORMAT
from desktop.core.messages import Role
from desktop.core.params import SamplingParams
from desktop.ui.hover_actions import HoverActions, install_hover_actions
from desktop.ui.main_window import MainWindow
from tests.ui.driving import answer_modal
from tests.ui.hovering import button, hover_over, message_point, move_mouse

MODEL = "local:smollm2-135m-instruct"
QUESTION = "How do llamas hum?"
FIRST = "Softly."
SECOND = "Llamas hum **softly**, through the nose:\n\n```python\nhum()\n```"


def seed(window: MainWindow, *, versions: bool) -> int:
    """A chat in the real store: a question and its answer (two versions if ``versions``)."""
    messages: list[dict[str, object]] = [
        {"role": "user", "content": QUESTION, "created": "2025-01-01T10:00:00+00:00"},
        {"role": "assistant", "content": FIRST, "model": MODEL, "parent": 0,
         "created": "2025-01-01T10:00:05+00:00"},
    ]  # fmt: skip
    if versions:
        messages.append(
            {"role": "assistant", "content": SECOND, "model": MODEL, "parent": 0,
             "created": "2025-01-01T10:01:00+00:00"}
        )  # fmt: skip
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Humming", "created": "2025-01-01", "updated": "2025-01-01", "model": MODEL,
         "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = window.chat.store.import_conversations(data)
    window.open_conversation(conversation_id)
    return conversation_id


@pytest.fixture
def hover(window: MainWindow) -> Iterator[HoverActions]:
    actions = install_hover_actions(window)
    assert install_hover_actions(window) is actions  # idempotent
    yield actions


def test_hover_shows_the_toolbar_and_copy_puts_the_markdown_on_the_clipboard(
    window: MainWindow, hover: HoverActions, qtbot: QtBot
) -> None:
    seed(window, versions=True)
    qtbot.waitUntil(lambda: len(hover.index.cards()) == 2)
    hover_over(qtbot, hover, Role.ASSISTANT)
    names = [b.objectName() for b in hover.toolbar.findChildren(QToolButton)]
    assert names == ["hover-copy", "hover-regenerate", "hover-delete", "hover-previous"]
    counter = hover.toolbar.findChild(QLabel, "hover-versions")
    assert isinstance(counter, QLabel) and counter.text() == "2/2"
    clipboard = QApplication.clipboard()
    clipboard.setText("")
    QTest.mouseClick(button(hover, "hover-copy"), Qt.MouseButton.LeftButton)
    assert clipboard.text() == SECOND
    # The old underlined links are gone from the text; the versions stay in sight.
    text = window.chat_view.toPlainText()
    assert "Regenerate" not in text and "Edit" not in text
    assert "2/2" in text

    # The previous version, from its arrow.
    hover_over(qtbot, hover, Role.ASSISTANT)
    QTest.mouseClick(button(hover, "hover-previous"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: FIRST in window.chat_view.toPlainText())
    assert SECOND.split(" ")[0] + " hum" not in window.chat_view.toPlainText()

    # Over the question: copy and edit; the mouse leaving the chat hides the toolbar.
    hover_over(qtbot, hover, Role.USER)
    names = [b.objectName() for b in hover.toolbar.findChildren(QToolButton)]
    assert names == ["hover-copy", "hover-edit", "hover-delete"]
    move_mouse(window.input_box, QPoint(5, 5))
    qtbot.waitUntil(lambda: not hover.toolbar.isVisible())


def test_moving_straight_from_one_message_to_the_next_shows_its_buttons(
    window: MainWindow, hover: HoverActions, qtbot: QtBot
) -> None:
    """The mouse goes from the question to the answer without leaving the chat: the toolbar,
    already in sight, is filled again, and its new buttons must be drawn (under Xvfb they were
    left hidden: an empty 8×6 box over the answer)."""
    seed(window, versions=True)
    qtbot.waitUntil(lambda: len(hover.index.cards()) == 2)
    hover_over(qtbot, hover, Role.USER)
    answer = message_point(hover, Role.ASSISTANT)
    move_mouse(window.chat_view.viewport(), answer)
    qtbot.waitUntil(lambda: "hover-regenerate" in names_shown(hover))
    buttons = [b for b in hover.toolbar.findChildren(QToolButton) if b.isVisible()]
    assert [b.objectName() for b in buttons] == [
        "hover-copy",
        "hover-regenerate",
        "hover-delete",
        "hover-previous",
    ]
    assert hover.toolbar.width() >= sum(b.sizeHint().width() for b in buttons)


def names_shown(hover: HoverActions) -> list[str]:
    return [b.objectName() for b in hover.toolbar.findChildren(QToolButton) if b.isVisible()]


def test_edit_from_the_toolbar_puts_the_question_in_the_message_box(
    window: MainWindow, hover: HoverActions, qtbot: QtBot
) -> None:
    seed(window, versions=False)
    qtbot.waitUntil(lambda: len(hover.index.cards()) == 2)
    hover_over(qtbot, hover, Role.USER)
    QTest.mouseClick(button(hover, "hover-edit"), Qt.MouseButton.LeftButton)
    assert window.input_box.toPlainText() == QUESTION
    assert window.edit_label.isVisibleTo(window)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Escape)
    assert window.editing is None


def test_regenerate_from_the_toolbar_makes_a_second_version(
    window: MainWindow, hover: HoverActions, qtbot: QtBot
) -> None:
    conversation_id = seed(window, versions=False)
    window.chat.sampling = SamplingParams(temperature=0.8, seed=1, max_tokens=8)
    qtbot.waitUntil(lambda: len(hover.index.cards()) == 2)
    hover_over(qtbot, hover, Role.ASSISTANT)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        QTest.mouseClick(button(hover, "hover-regenerate"), Qt.MouseButton.LeftButton)
    assert "1/2" not in window.chat_view.toPlainText()
    qtbot.waitUntil(lambda: "2/2" in window.chat_view.toPlainText())
    answer = window.chat.store.messages(conversation_id)[-1]
    assert window.chat.store.versions(conversation_id)[answer.id].count == 2
    # The new answer, shown as it was written, has its toolbar too.
    hover_over(qtbot, hover, Role.ASSISTANT)
    assert hover.toolbar.message_id == answer.id
    assert hover.toolbar.findChild(QLabel, "hover-versions").text() == "2/2"  # type: ignore[union-attr]


def open_menu_with_keyboard(qtbot: QtBot, window: MainWindow) -> QMenu:
    """The Menu key in the chat: its context menu, as the keyboard opens it."""
    before = set(QApplication.topLevelWidgets())
    QTest.keyClick(window.chat_view, Qt.Key.Key_Menu)

    def opened() -> QMenu:
        menus = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QMenu) and w.isVisible() and w not in before
        ]
        assert menus
        return menus[-1]

    qtbot.waitUntil(lambda: bool(opened()))
    return opened()


def test_the_keyboard_reaches_every_action(
    window: MainWindow, hover: HoverActions, qtbot: QtBot
) -> None:
    conversation_id = seed(window, versions=False)
    window.chat.sampling = SamplingParams(temperature=0.8, seed=1, max_tokens=8)
    qtbot.waitUntil(lambda: len(hover.index.cards()) == 2)
    window.chat_view.setFocus()
    question, answer = window.chat.store.messages(conversation_id)
    # Alt+Down to the answer (the first goes to the question, from the top).
    window.chat_view.moveCursor(window.chat_view.textCursor().MoveOperation.Start)
    QTest.keyClick(window.chat_view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert hover.toolbar.message_id == question.id and hover.toolbar.isVisible()
    menu = open_menu_with_keyboard(qtbot, window)
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert "&Edit" in texts and "&Regenerate" not in texts
    QTest.keyClick(menu, Qt.Key.Key_Escape)
    QTest.keyClick(window.chat_view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert hover.toolbar.message_id == answer.id
    menu = open_menu_with_keyboard(qtbot, window)
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert {"Copy as &Markdown", "Copy as plain &text", "&Regenerate"} <= set(texts)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        QTest.keyClick(menu, Qt.Key.Key_R)  # its mnemonic
    latest = window.chat.store.messages(conversation_id)[-1]
    assert latest.id != answer.id
    assert window.chat.store.versions(conversation_id)[latest.id].count == 2


def test_delete_asks_then_removes_the_answer_and_shows_its_other_version(
    window: MainWindow, hover: HoverActions, qtbot: QtBot
) -> None:
    conversation_id = seed(window, versions=True)
    qtbot.waitUntil(lambda: len(hover.index.cards()) == 2)
    question, answer = window.chat.store.messages(conversation_id)

    asked: list[str] = []

    def choose(button: QMessageBox.StandardButton) -> Callable[[QWidget], None]:
        def answer_it(box: QWidget) -> None:
            assert isinstance(box, QMessageBox)
            asked.append(box.text())
            clicked = box.button(button)
            assert clicked is not None
            clicked.click()

        return answer_it

    # Cancel keeps it.
    failures = answer_modal(choose(QMessageBox.StandardButton.Cancel), QMessageBox, "deleteMessage")
    hover_over(qtbot, hover, Role.ASSISTANT)
    QTest.mouseClick(button(hover, "hover-delete"), Qt.MouseButton.LeftButton)
    assert not failures
    assert [m.id for m in window.chat.store.messages(conversation_id)] == [question.id, answer.id]
    # Yes deletes it: the other version is shown, with no versions left to step through.
    failures = answer_modal(choose(QMessageBox.StandardButton.Yes), QMessageBox, "deleteMessage")
    hover_over(qtbot, hover, Role.ASSISTANT)
    QTest.mouseClick(button(hover, "hover-delete"), Qt.MouseButton.LeftButton)
    assert not failures
    shown = window.chat.store.messages(conversation_id)
    assert [m.content for m in shown] == [QUESTION, FIRST]
    assert len(window.chat.store.all_messages(conversation_id)) == 2
    text = window.chat_view.toPlainText()
    assert FIRST in text and "2/2" not in text and "hum()" not in text

    # The question goes with everything after it (every version of its answer).
    failures = answer_modal(choose(QMessageBox.StandardButton.Yes), QMessageBox, "deleteMessage")
    hover_over(qtbot, hover, Role.USER)
    QTest.mouseClick(button(hover, "hover-delete"), Qt.MouseButton.LeftButton)
    assert not failures
    assert window.chat.store.all_messages(conversation_id) == []
    assert asked[0].startswith("Delete this message?")
    assert asked[-1].startswith("Delete this message and the 1 after it?")
    assert QUESTION not in window.chat_view.toPlainText()
