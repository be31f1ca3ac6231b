"""A long chat opened at a search hit, in the real window: the "Show earlier messages" link
above the rendered messages and the "Show later messages" link below them are drawn outside
every message's card (the last card ends before the link, not around it)."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QTextBlock
from pytestqt.qtbot import QtBot

from desktop.ui.chat_view import ChatView
from desktop.ui.main_window import MainWindow
from desktop.ui.message_cards import CardPainter, install_cards
from tests.ui.test_chat_paging import block_with, open_at_hit, seed_chat


def text_rect(view: ChatView, block: QTextBlock) -> QRectF:
    """Where the block's text is drawn, in the viewport's coordinates."""
    layout = view.document().documentLayout()
    rect = layout.blockBoundingRect(block)
    lines = block.layout()
    first, last = lines.lineAt(0), lines.lineAt(lines.lineCount() - 1)
    top = rect.top() + first.y() - view.verticalScrollBar().value()
    return QRectF(rect.left(), top, rect.width(), last.y() + last.height() - first.y())


def cards_miss(view: ChatView, painter: CardPainter, link: QTextBlock) -> None:
    where = text_rect(view, link)
    for card in painter.index.cards():
        rect = painter.index.rect(card)
        assert not rect.intersects(where), (card, rect, where)
        assert not card.first <= link.blockNumber() <= card.last, card


def test_the_paging_links_lie_outside_every_card(window: MainWindow, qtbot: QtBot) -> None:
    store = window.chat.store
    seed_chat(store, 300, 40, "The heron stands still.")
    window.open_conversation(store.create_conversation("Other").id)
    open_at_hit(window, qtbot, "heron")
    view = window.chat_view
    painter = install_cards(window)  # the window's own (installed with it)
    assert "Show earlier messages" in view.toPlainText()
    assert "Show later messages" in view.toPlainText()

    # Both links, wherever the view is scrolled (rectangles in the same coordinates).
    cards_miss(view, painter, block_with(view, "Show earlier messages"))
    cards_miss(view, painter, block_with(view, "Show later messages"))
