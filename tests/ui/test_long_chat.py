"""A 5,000-message chat in the real window, offscreen: it opens at its latest messages with only
those rendered; scrolling to the top or the "Show earlier messages" link renders older ones
without moving what is on screen; a search hit on its first message still opens there; and
what is revealed is the same document an eager render makes (anchors, controls, formats)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextBlock
from pytestqt.qtbot import QtBot

from desktop.core.history_format import EXPORT_FORMAT
from desktop.core.messages import Role
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from desktop.ui import chat_view
from desktop.ui.chat_view import EARLIER_BATCH, FIRST_RENDER, ChatView
from desktop.ui.main_window import MainWindow

MODEL = "local:smollm2-135m-instruct"


def long_chat(store: ChatStore, size: int, first: str = "How do llamas hum?") -> int:
    """A chat of ``size`` messages, questions and Markdown answers, through the import API."""
    messages = []
    for i in range(size):
        if i % 2 == 0:
            content = first if i == 0 else f"Question {i}: tell me more."
            messages.append({"role": "user", "content": content, "created": "2025-01-01"})
        else:
            content = f"Answer **{i}**:\n\n- one\n- two\n\n```python\nprint({i})\n```"
            messages.append(
                {"role": "assistant", "content": content, "model": MODEL, "created": "2025-01-01"}
            )
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Long", "created": "2025-01-01", "updated": "2025-01-01", "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = store.import_conversations(data)
    return conversation_id


def block_of(view: ChatView, message_id: int) -> QTextBlock:
    """The block that holds a message's anchor (Qt keeps an empty anchor in the format of
    the block that follows it)."""
    block = view.document().firstBlock()
    while block.isValid():
        if f"m{message_id}" in block.charFormat().anchorNames():
            return block
        it = block.begin()
        while not it.atEnd():
            if f"m{message_id}" in it.fragment().charFormat().anchorNames():
                return block
            it += 1
        block = block.next()
    raise AssertionError(f"message {message_id} is not rendered")


def top_on_screen(view: ChatView, block: QTextBlock) -> float:
    """Where a block's top is in the viewport (0: at the top edge)."""
    top = view.document().documentLayout().blockBoundingRect(block).top()
    return top - view.verticalScrollBar().value()


def at_end(view: ChatView) -> bool:
    bar = view.verticalScrollBar()
    return bar.maximum() > 0 and bar.value() == bar.maximum()


def test_a_long_chat_opens_at_its_latest_messages(window: MainWindow, qtbot: QtBot) -> None:
    store = window.chat.store
    conversation_id = long_chat(store, 5_000)
    shown = store.messages(conversation_id)
    window.open_conversation(conversation_id)
    view = window.chat_view
    qtbot.waitUntil(lambda: at_end(view), timeout=5_000)

    assert view.earlier_count == 5_000 - FIRST_RENDER
    text = view.toPlainText()
    assert text.startswith("Show earlier messages (4,950 more)")
    assert "Question 4950:" in text and "Answer 4999" in text
    assert "How do llamas hum?" not in text and "Answer 4949" not in text
    # The latest answer is on screen, its end included.
    last = block_of(view, shown[-1].id)
    assert 0 < top_on_screen(view, last) < view.viewport().height()
    assert text.rstrip().endswith("print(4999)")


def test_scrolling_to_the_top_renders_earlier_messages_in_place(
    window: MainWindow, qtbot: QtBot
) -> None:
    store = window.chat.store
    conversation_id = long_chat(store, 5_000)
    shown = store.messages(conversation_id)
    window.open_conversation(conversation_id)
    view = window.chat_view
    qtbot.waitUntil(lambda: at_end(view), timeout=5_000)

    oldest = block_of(view, shown[-FIRST_RENDER].id)
    view.verticalScrollBar().setValue(0)  # as a wheel or a drag to the top would
    where = top_on_screen(view, oldest)  # below the link
    assert 0 < where < view.viewport().height()
    qtbot.waitUntil(lambda: view.earlier_count == 5_000 - FIRST_RENDER - EARLIER_BATCH)
    # What was on screen stays there: the new messages are above it, to scroll up to.
    assert top_on_screen(view, oldest) == where
    assert view.verticalScrollBar().value() > 0
    assert f"Answer {5_000 - FIRST_RENDER - 1}" in view.toPlainText()

    # Again, from the new top: older still.
    view.verticalScrollBar().setValue(0)
    qtbot.waitUntil(lambda: view.earlier_count == 5_000 - FIRST_RENDER - 2 * EARLIER_BATCH)


def test_show_earlier_link_renders_them(window: MainWindow, qtbot: QtBot) -> None:
    conversation_id = long_chat(window.chat.store, 300)
    window.open_conversation(conversation_id)
    view = window.chat_view
    qtbot.waitUntil(lambda: at_end(view), timeout=5_000)
    view.verticalScrollBar().setValue(8)  # near the top, but not at it: the link is on screen
    before = view.earlier_count
    cursor = view.document().find("Show earlier messages")
    cursor.setPosition(cursor.selectionStart() + 3)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.cursorRect(cursor).center()
    )
    qtbot.waitUntil(lambda: view.earlier_count == before - EARLIER_BATCH)
    assert "(150 more)" in view.toPlainText()
    view.show_earlier(1_000)  # the rest: no link is left
    assert view.earlier_count == 0
    assert "Show earlier" not in view.toPlainText()
    assert re.match(r"You\b[^\n]*\nHow do llamas hum\?", view.toPlainText())  # header, time


def test_search_hit_on_the_first_message_opens_the_chat_there(
    window: MainWindow, qtbot: QtBot
) -> None:
    store = window.chat.store
    conversation_id = long_chat(store, 5_000, first="Where does the marmot sleep?")
    first = store.messages(conversation_id)[0]
    other = store.create_conversation("Other")
    window.open_conversation(other.id)

    qtbot.keyClicks(window.sidebar.search_edit, "marmo")
    hits = window.sidebar.hits
    qtbot.waitUntil(lambda: hits.isVisible() and hits.count() == 1, timeout=5_000)
    hits.scrollToItem(hits.item(0))
    point = hits.visualItemRect(hits.item(0)).center()
    qtbot.mouseClick(hits.viewport(), Qt.MouseButton.LeftButton, pos=point)  # the hit
    assert window.conversation_id == conversation_id
    view = window.chat_view
    # Rendered down to the hit, which is at the top of the view.
    assert view.earlier_count == 0
    hit = block_of(view, first.id)
    qtbot.waitUntil(lambda: abs(top_on_screen(view, hit)) < 30, timeout=5_000)
    assert view.cursorForPosition(QPoint(40, 40)).block().text().startswith(("You", "Where"))


def test_revealed_messages_are_the_document_an_eager_render_makes(
    qtbot: QtBot, home: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ChatStore(home.database)
    conversation_id = long_chat(store, 260)
    question, answer = store.messages(conversation_id)[:2]
    # A second version of the first answer, with the first one (and what follows) on screen.
    store.add_message(conversation_id, Role.ASSISTANT, "Hmm.", MODEL, parent_id=question.id)
    store.show_version(answer.id)
    messages = store.messages(conversation_id)
    assert len(messages) == 260
    versions = store.versions(conversation_id)
    store.close()

    def blocks(view: ChatView) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        block = view.document().firstBlock()
        while block.isValid():
            fmt = block.blockFormat()
            names = list(block.charFormat().anchorNames())
            it = block.begin()
            while not it.atEnd():
                names += it.fragment().charFormat().anchorNames()
                # A link's kind (edit, version, copy ...), not this run's token.
                names += it.fragment().charFormat().anchorHref().split(":")[2:3]
                it += 1
            out.append((block.text(), fmt.alignment(), fmt.topMargin(), fmt.bottomMargin(), names))
            block = block.next()
        return out

    lazy = ChatView()
    qtbot.addWidget(lazy)
    lazy.resize(800, 600)
    lazy.show()
    lazy.show_messages(messages, {MODEL: "SmolLM2"}, versions=versions)
    while lazy.earlier_count:
        lazy.show_earlier()

    monkeypatch.setattr(chat_view, "FIRST_RENDER", 10_000)
    eager = ChatView()
    qtbot.addWidget(eager)
    eager.show_messages(messages, {MODEL: "SmolLM2"}, versions=versions)
    assert "1/2" in lazy.toPlainText()
    assert blocks(lazy) == blocks(eager)
    assert lazy.toHtml() == eager.toHtml()


def test_streaming_after_a_lazy_open_then_earlier_messages(qtbot: QtBot, home: AppPaths) -> None:
    store = ChatStore(home.database)
    messages = store.messages(long_chat(store, 400))
    store.close()
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    view.show_messages(messages, {MODEL: "SmolLM2"})
    qtbot.waitUntil(lambda: at_end(view), timeout=5_000)

    view.append_user("And one more?")
    view.begin_answer(99_999, "SmolLM2", MODEL)
    for word in ("Sure", ",", " here", " it is."):
        view.append_answer_text(word)
    view.finish_answer("Sure, here **it** is.", "complete")
    assert at_end(view) and view.toPlainText().rstrip().endswith("Sure, here it is.")

    view.show_earlier(1_000)
    assert view.earlier_count == 0
    text = view.toPlainText()
    assert re.match(r"You\b[^\n]*\nHow do llamas hum\?", text)  # its header line, then it
    assert text.rstrip().endswith("Sure, here it is.")
