"""The chat's line length in the real window, offscreen: in a wide window a long answer keeps to
a readable width, centred, and that width grows with View → Zoom In; in a narrow window the
text uses the whole width, as before."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from pytestqt.qtbot import QtBot

from desktop.core.history_format import EXPORT_FORMAT
from desktop.ui.chat_view import ChatView
from desktop.ui.main_window import MainWindow
from desktop.ui.message_cards import install_cards
from desktop.ui.text_width import MAX_TEXT_PX

MODEL = "local:smollm2-135m-instruct"
#: A paragraph long enough to wrap in any window: it takes all the width it is given.
LONG = "Llamas hum when they are curious, worried or content. " * 60


def open_long_answer(window: MainWindow) -> None:
    messages = [
        {"role": "user", "content": "Why do llamas hum?", "created": "2025-01-01"},
        {"role": "assistant", "content": LONG, "model": MODEL, "created": "2025-01-01"},
    ]
    data = {"format": EXPORT_FORMAT, "version": 1, "conversations": [
        {"title": "Hum", "created": "2025-01-01", "updated": "2025-01-01", "messages": messages}
    ]}  # fmt: skip
    [conversation_id] = window.chat.store.import_conversations(data)
    window.open_conversation(conversation_id)


def paragraph(view: ChatView) -> QRectF:
    """Where the long paragraph lies in the viewport's coordinates (left and right edges)."""
    block = view.document().find("Llamas hum when").block()
    rect = view.document().documentLayout().blockBoundingRect(block)
    return rect.translated(-view.horizontalScrollBar().value(), 0)


def test_a_wide_window_keeps_lines_readable_and_centred(window: MainWindow, qtbot: QtBot) -> None:
    window.resize(2400, 900)
    open_long_answer(window)
    view = window.chat_view
    qtbot.waitUntil(lambda: view.viewport().width() > 1500, timeout=5_000)
    width = view.viewport().width()
    rect = paragraph(view)
    assert MAX_TEXT_PX - 2 <= rect.width() <= MAX_TEXT_PX  # all of the width it may have
    # Centred: as much room on its left as on its right.
    assert abs(rect.left() - (width - rect.right())) <= 1
    assert rect.left() > (width - MAX_TEXT_PX) / 2 - 2
    # The answer's card (message_cards.py) wraps the text, not the window's width.
    cards = install_cards(window)  # the window's own: it installs them at start
    card = cards.index.rect(cards.index.found()[-1])
    assert rect.left() - 30 < card.left() < rect.left()
    assert rect.right() < card.right() < rect.right() + 30

    # Text zoom makes the letters larger: the line holds about as many of them as before.
    normal = view.font().pointSizeF()
    for _ in range(3):
        window.menus.zoom_in_action.trigger()
    assert view.font().pointSizeF() == normal + 3
    zoomed = paragraph(view)
    assert abs(zoomed.width() - MAX_TEXT_PX * (normal + 3) / normal) <= 2
    assert abs(zoomed.left() - (width - zoomed.right())) <= 1
    window.menus.actual_size_action.trigger()
    assert abs(paragraph(view).width() - rect.width()) <= 1


def test_a_narrow_window_uses_its_whole_width(window: MainWindow, qtbot: QtBot) -> None:
    window.resize(800, 600)
    open_long_answer(window)
    view = window.chat_view
    qtbot.waitUntil(lambda: view.viewport().width() < 800, timeout=5_000)
    margin = view.document().documentMargin()
    rect = paragraph(view)
    assert rect.left() == margin
    assert abs(rect.right() - (view.viewport().width() - margin)) <= 1
    # Widening past the readable width centres it; narrowing again gives the width back.
    window.resize(2400, 900)
    qtbot.waitUntil(lambda: paragraph(view).left() > margin + 100, timeout=5_000)
    window.resize(800, 600)
    qtbot.waitUntil(lambda: paragraph(view).left() == margin, timeout=5_000)
