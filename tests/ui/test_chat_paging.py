"""A long chat opened at a search hit, in the real window, offscreen: only a window of messages
around the hit is rendered, with the hit on screen; scrolling down (keys or the scroll bar)
renders the later ones and scrolling up the earlier ones, until every message is there exactly
once, in order; and sending in a chat opened at an old hit shows the chat's end."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextBlock
from pytestqt.qtbot import QtBot

from desktop.core.history_format import EXPORT_FORMAT
from desktop.core.params import SamplingParams
from desktop.storage.store import ChatStore
from desktop.ui import chat_view
from desktop.ui.chat_paging import AFTER_HIT, BEFORE_HIT, LATER_BATCH
from desktop.ui.chat_view import ChatView
from desktop.ui.main_window import MainWindow

MODEL = "local:smollm2-135m-instruct"


def seed_chat(store: ChatStore, size: int, hit_at: int, hit_text: str) -> int:
    """A chat of ``size`` messages through the import API; message ``hit_at`` says
    ``hit_text`` (the only one that does), the others their own number."""
    messages = []
    for i in range(size):
        user = i % 2 == 0
        content = hit_text if i == hit_at else f"{'Question' if user else 'Answer'} {i}."
        message = {"role": "user" if user else "assistant", "content": content}
        messages.append({**message, "model": None if user else MODEL, "created": "2025-01-01"})
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Long", "created": "2025-01-01", "updated": "2025-01-01", "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = store.import_conversations(data)
    return conversation_id


def open_at_hit(window: MainWindow, qtbot: QtBot, word: str) -> None:
    """Search the history in the sidebar and click the one hit."""
    qtbot.keyClicks(window.sidebar.search_edit, word)
    hits = window.sidebar.hits
    qtbot.waitUntil(lambda: hits.isVisible() and hits.count() == 1, timeout=5_000)
    hits.scrollToItem(hits.item(0))
    point = hits.visualItemRect(hits.item(0)).center()
    qtbot.mouseClick(hits.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.wait(50)  # the view scrolls to the hit on its next event-loop turns, as one sees


def anchors(view: ChatView) -> list[int]:
    """The ids of the messages rendered, in document order (each message has one anchor)."""
    out: list[int] = []
    block = view.document().firstBlock()
    while block.isValid():
        names = list(block.charFormat().anchorNames())
        it = block.begin()
        while not it.atEnd():
            names += it.fragment().charFormat().anchorNames()
            it += 1
        for name in dict.fromkeys(names):  # a block's format and its text's may both hold it
            if name.startswith("m") and name[1:].isdigit():
                out.append(int(name[1:]))
        block = block.next()
    return out


def block_with(view: ChatView, text: str) -> QTextBlock:
    block = view.document().find(text).block()
    assert block.isValid(), f"{text!r} is not rendered"
    return block


def on_screen(view: ChatView, block: QTextBlock) -> bool:
    rect = view.document().documentLayout().blockBoundingRect(block)
    top = rect.top() - view.verticalScrollBar().value()
    return top >= 0 and top + rect.height() <= view.viewport().height()


def at_end(view: ChatView) -> bool:
    bar = view.verticalScrollBar()
    return bar.maximum() > 0 and bar.value() == bar.maximum()


def test_a_hit_on_the_first_of_5000_messages_opens_a_window_and_pages_down(
    window: MainWindow, qtbot: QtBot
) -> None:
    store = window.chat.store
    conversation_id = seed_chat(store, 5_000, 0, "Where does the marmot sleep?")
    ids = [m.id for m in store.messages(conversation_id)]
    window.open_conversation(store.create_conversation("Other").id)

    open_at_hit(window, qtbot, "marmo")
    assert window.conversation_id == conversation_id
    view = window.chat_view
    hit = block_with(view, "Where does the marmot sleep?")
    qtbot.waitUntil(lambda: on_screen(view, hit), timeout=5_000)
    # Far fewer than 5,000 rendered: the hit and what follows it, the rest waits below.
    assert anchors(view) == ids[:AFTER_HIT]
    assert view.earlier_count == 0 and view.later_count == 5_000 - AFTER_HIT
    assert "Show later messages (4,950 more)" in view.toPlainText()
    assert "Answer 4999." not in view.toPlainText()

    # Down to the end, as a user would: the End key, then dragging the scroll bar to its
    # bottom, in turns; each time more messages come in below.
    view.setFocus()
    bar = view.verticalScrollBar()
    turns = 0
    while view.later_count:
        before = view.later_count
        if turns % 2:
            bar.setValue(bar.maximum())
        else:
            qtbot.keyClick(view, Qt.Key.Key_End)
        qtbot.waitUntil(lambda: view.later_count < before, timeout=5_000)  # noqa: B023
        assert before - view.later_count == min(before, LATER_BATCH)
        turns += 1
    assert turns == -(-(5_000 - AFTER_HIT) // LATER_BATCH)
    # Every message exactly once, in order, and the last one reached.
    assert anchors(view) == ids
    assert "Show later messages" not in view.toPlainText()
    qtbot.keyClick(view, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: on_screen(view, block_with(view, "Answer 4999.")), timeout=5_000)


def test_a_hit_in_the_middle_pages_both_ways_without_gaps(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = window.chat.store
    conversation_id = seed_chat(store, 1_000, 500, "The kettle whistles twice.")
    ids = [m.id for m in store.messages(conversation_id)]
    window.open_conversation(store.create_conversation("Other").id)

    open_at_hit(window, qtbot, "kettle")
    view = window.chat_view
    hit = block_with(view, "The kettle whistles twice.")
    qtbot.waitUntil(lambda: on_screen(view, hit), timeout=5_000)
    assert anchors(view) == ids[500 - BEFORE_HIT : 500 + AFTER_HIT]
    assert view.toPlainText().startswith("Show earlier messages (490 more)")

    bar = view.verticalScrollBar()
    while view.earlier_count:  # dragged to the top, again and again
        before = view.earlier_count
        bar.setValue(bar.minimum())
        qtbot.waitUntil(lambda: view.earlier_count < before, timeout=5_000)  # noqa: B023
    # The link below the rendered messages brings the next ones in too.
    bar.setValue(bar.maximum() - 8)  # near the bottom, not at it: the link is on screen
    before = view.later_count
    cursor = view.document().find("Show later messages")
    cursor.setPosition(cursor.selectionStart() + 3)
    point = view.cursorRect(cursor).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: view.later_count == before - LATER_BATCH, timeout=5_000)
    while view.later_count:  # Page Down to the bottom, again and again
        before = view.later_count
        qtbot.waitUntil(lambda: not view.rendering, timeout=5_000)
        for _ in range(400):
            qtbot.keyClick(view, Qt.Key.Key_PageDown)
            if view.later_count < before:
                break
        qtbot.waitUntil(lambda: view.later_count < before, timeout=5_000)  # noqa: B023
    assert anchors(view) == ids
    # The same document as all of them rendered at once.
    monkeypatch.setattr(chat_view, "FIRST_RENDER", 10_000)
    eager = ChatView()
    qtbot.addWidget(eager)
    names = {MODEL: window.chat.model_name(MODEL)}
    eager.show_messages(store.messages(conversation_id), names, versions={})
    assert view.toHtml() == eager.toHtml()


def test_sending_in_a_chat_opened_at_an_old_hit_shows_its_end(
    window: MainWindow, qtbot: QtBot
) -> None:
    store = window.chat.store
    conversation_id = seed_chat(store, 110, 0, "Where does the marmot sleep?")
    ids = [m.id for m in store.messages(conversation_id)]
    window.open_conversation(store.create_conversation("Other").id)
    open_at_hit(window, qtbot, "marmo")
    view = window.chat_view
    qtbot.waitUntil(lambda: on_screen(view, block_with(view, "marmot")), timeout=5_000)
    assert view.later_count > 0

    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=8)
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "Name a fruit.")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=120_000):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert view.later_count == 0
    # The chat's latest messages, with none missing between them, then the new turn.
    shown = anchors(view)
    assert shown == ids[-len(shown) :] and len(shown) >= 50
    text = view.toPlainText()
    assert text.index("Answer 109.") < text.index("Name a fruit.")
    qtbot.waitUntil(lambda: at_end(view), timeout=5_000)
    assert on_screen(view, block_with(view, "Name a fruit."))
