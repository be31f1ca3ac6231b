"""Each message of the chat as a card: found in the view's document, and painted as a rounded
rectangle behind its text.

A card begins at a header line (message_html.header_html), whose anchor names say whose it is
and, for a stored message, its id (``m<id>``); it runs to the block before the next header.
A message shown while it is written has no id in its header yet: its id is the branch's,
counted from the end (the document shows the branch's latest messages, in order).

Qt's rich text has no rounded corners, so the cards are painted by an event filter on the
view's viewport, before the view paints the text on top; colours come from the view's palette
at each paint, so a theme switch recolours them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QPainter,
    QPaintEvent,
    QPalette,
    QTextBlock,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QTextEdit

from desktop.ui.chat_history_html import EARLIER
from desktop.ui.chat_paging import LATER
from desktop.ui.message_html import ANSWER_HEAD, HEAD_GAP, USER_HEAD
from desktop.ui.render import action_href

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

_ID = re.compile(r"m(\d+)")
#: Where the window keeps its card painter (install_cards is idempotent).
_ATTRIBUTE = "message_cards"
_INDEX = "message_card_index"
#: Room between a card's edge and its text, left and right (the document margin is wider).
PAD_X = 12
#: Room above a card's header line and below its last line.
PAD_Y = 8
RADIUS = 10.0
#: Room between a header line and the text under it (px).
BODY_GAP = 8
#: The document's margin with cards: the card's padding plus a little air outside it.
DOCUMENT_MARGIN = 22


@dataclass(frozen=True)
class Card:
    """One message's place in the document: its id (None: not known yet), whose it is, and
    its first (header) and last block numbers."""

    message_id: int | None
    user: bool
    first: int
    last: int


def _head(block: QTextBlock) -> tuple[int | None, bool] | None:
    """(id, is the user's) if the block is a card's header line, else None."""
    names: list[str] = list(block.charFormat().anchorNames())
    it = block.begin()
    while not it.atEnd():
        names += it.fragment().charFormat().anchorNames()
        it += 1
    if USER_HEAD not in names and ANSWER_HEAD not in names:
        return None
    found = next((int(m.group(1)) for n in names if (m := _ID.fullmatch(n))), None)
    return found, USER_HEAD in names


def _paging_link(block: QTextBlock) -> bool:
    """Whether the block is the "Show earlier / later messages" link (no message's own)."""
    links = (action_href(LATER, 0), action_href(EARLIER, 0))
    it = block.begin()
    while not it.atEnd():
        if it.fragment().charFormat().anchorHref() in links:
            return True
        it += 1
    return False


def find_cards(document: QTextDocument, start: int = 0) -> list[Card]:
    """The cards of the document from block number ``start`` on (a header), in order; the
    last ends before the "Show later messages" link below it."""
    cards: list[Card] = []
    block = document.findBlockByNumber(start)
    while block.isValid():
        head = _head(block)
        if head is not None:
            if cards:
                cards[-1] = replace(cards[-1], last=block.blockNumber() - 1)
            cards.append(Card(head[0], head[1], block.blockNumber(), block.blockNumber()))
        block = block.next()
    if cards:
        cards[-1] = replace(cards[-1], last=_last_block(document, cards[-1].first))
    return cards


def _last_block(document: QTextDocument, first: int) -> int:
    """The last card's last block: the document's, above a "Show later messages" link."""
    last = document.lastBlock()
    while last.blockNumber() > first and _paging_link(last):
        last = last.previous()
    return last.blockNumber()


def with_ids(cards: list[Card], branch: Sequence[int]) -> list[Card]:
    """Cards whose header has no id yet take the branch's, counted from the end."""
    if all(card.message_id is not None for card in cards):
        return cards
    out = list(cards)
    for back, (card, message_id) in enumerate(zip(reversed(cards), reversed(branch), strict=False)):
        if card.message_id is None:
            out[len(cards) - 1 - back] = replace(card, message_id=message_id)
    return out


class CardIndex:
    """Owns the cards of one view's document. Found again only where the document changed:
    while an answer streams, only its own card is looked at again (a scan of the whole chat
    per piece would grow with the chat)."""

    def __init__(self, view: QTextEdit, branch: Callable[[], Sequence[int]]) -> None:
        self._view = view
        self._branch = branch
        self._document: QTextDocument | None = None
        #: Where the document has changed since the cards were found (None: nowhere).
        self._changed_from: int | None = 0
        self._found: list[Card] = []
        self._ids_key: tuple[int | None, ...] = ()
        self._ids: list[int | None] = []

    def _on_change(self, position: int, _removed: int, _added: int) -> None:
        known = self._changed_from
        self._changed_from = position if known is None else min(known, position)

    def cards(self) -> list[Card]:
        """The cards, each with its message's id."""
        found = self.found()
        key = tuple(card.message_id for card in found)
        if key != self._ids_key:  # a new card, or one changed: the branch says their ids
            self._ids_key = key
            self._ids = [c.message_id for c in with_ids(found, self._branch())]
        return [
            replace(card, message_id=message_id)
            for card, message_id in zip(found, self._ids, strict=True)
        ]

    def found(self) -> list[Card]:
        """The cards as the document has them (a message being written: no id yet)."""
        document = self._view.document()
        if document is not self._document:
            self._document = document
            document.contentsChange.connect(self._on_change)
            self._changed_from = 0
        changed = self._changed_from
        if changed is None:
            return self._found
        self._changed_from = None
        if not self._found:
            self._found = find_cards(document)
            return self._found
        last = self._found[-1]
        if changed < document.findBlockByNumber(last.first).position():
            self._found = find_cards(document)  # an earlier message changed: all again
            return self._found
        # Within the last card (an answer streaming): only the blocks from the change on can
        # hold a new header; rescanning the whole answer per piece grew with its length.
        tail = find_cards(document, document.findBlock(changed).blockNumber())
        if not tail:
            self._found[-1] = replace(last, last=_last_block(document, last.first))
        elif tail[0].first <= last.first:
            self._found = self._found[:-1] + tail
        else:
            self._found = [*self._found[:-1], replace(last, last=tail[0].first - 1), *tail]
        return self._found

    def rect(self, card: Card) -> QRectF:
        """The card's rectangle in the viewport's coordinates."""
        document = self._view.document()
        layout = document.documentLayout()
        first = document.findBlockByNumber(card.first)
        top = layout.blockBoundingRect(first).top()  # the text's, margins outside
        last = document.findBlockByNumber(card.last)
        bottom = layout.blockBoundingRect(last).bottom()
        frame = document.rootFrame().frameFormat()  # side margins: text_width.py centres text
        left = frame.leftMargin() - PAD_X
        width = self._view.viewport().width() - left - (frame.rightMargin() - PAD_X)
        scrolled = self._view.verticalScrollBar().value()
        return QRectF(left, top - PAD_Y - scrolled, width, bottom - top + 2 * PAD_Y)

    def in_sight(self, top: float, bottom: float, rects: dict[int, QRectF] | None = None) -> range:
        """The places (in found()) of the cards that reach into viewport heights ``top`` to
        ``bottom``, found by halving (a chat of thousands of messages measures a few dozen);
        ``rects`` gets the rectangles measured on the way, by place."""
        found = self.found()
        known = rects if rects is not None else {}

        def rect(place: int) -> QRectF:
            if place not in known:
                known[place] = self.rect(found[place])
            return known[place]

        first = bisect_left(range(len(found)), top, key=lambda place: rect(place).bottom())
        end = first
        while end < len(found) and rect(end).top() <= bottom:
            end += 1
        return range(first, end)

    def card_at(self, y: float) -> Card | None:
        """The card under viewport height ``y`` (with its id), or None."""
        places = self.in_sight(y, y)
        return self.cards()[places.start] if places else None


def card_colours(palette: QPalette, user: bool) -> tuple[QColor, QColor]:
    """(fill, outline) of a card: the answer's a shade of the text colour over the base, the
    user's a tint of the highlight colour; both from the palette, so both themes read."""
    base = palette.color(QPalette.ColorRole.Base)
    tint = palette.color(QPalette.ColorRole.Highlight if user else QPalette.ColorRole.Text)
    share = 0.10 if user else 0.035

    def mix(amount: float) -> QColor:
        return QColor.fromRgbF(
            base.redF() + (tint.redF() - base.redF()) * amount,
            base.greenF() + (tint.greenF() - base.greenF()) * amount,
            base.blueF() + (tint.blueF() - base.blueF()) * amount,
        )

    return mix(share), mix(share + 0.10)


class CardPainter(QObject):
    """Paints the cards behind the text of a view (an event filter on its viewport)."""

    def __init__(self, view: QTextEdit, index: CardIndex) -> None:
        super().__init__(view)
        self._view = view
        self.index = index
        view.document().setDocumentMargin(DOCUMENT_MARGIN)
        self._viewport = view.viewport()
        self._viewport.installEventFilter(self)
        # No repaint of our own: the view repaints from the changed block down, and a card's
        # edges move only below a change (tests/ui/test_message_cards.py compares).
        self._colours: dict[tuple[int, bool], tuple[QColor, QColor]] = {}
        self._spaced_cards = -1
        # Once per event-loop turn: a C++ timer restarted by each change, no Python per piece.
        self._spacing = QTimer(self, singleShot=True, interval=0)
        self._spacing.timeout.connect(self.space)
        view.document().contentsChanged.connect(self._spacing.start)
        self._spacing.start()

    def space(self) -> int:
        """Give each header line the room above it that keeps cards apart, and the text
        under it a little air: a message added while the chat is open gets the view's
        narrower gaps (its paragraphs' margins are dropped on insertion). Only the last card
        is looked at while the number of cards stays the same (an answer streaming). Returns
        how many blocks were moved."""
        document = self._view.document()
        found = self.index.found()  # no ids needed (nor the store)
        look = found if len(found) != self._spaced_cards else found[-1:]
        self._spaced_cards = len(found)
        moved = 0
        for card in look:
            wanted = [(card.first, HEAD_GAP)] if card.first else []
            if card.last > card.first:
                wanted.append((card.first + 1, BODY_GAP))
            for number, margin in wanted:
                block = document.findBlockByNumber(number)
                if block.blockFormat().topMargin() < margin:
                    spaced = block.blockFormat()
                    spaced.setTopMargin(margin)
                    QTextCursor(block).setBlockFormat(spaced)
                    moved += 1
        return moved

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._viewport and isinstance(event, QPaintEvent):
            self.paint(event.rect())
        return False  # the view paints its text on top

    def paint(self, area: QRect | None = None) -> None:
        """The cards that reach into ``area`` of the viewport (None: all of it)."""
        viewport = self._view.viewport()
        area = area if area is not None else viewport.rect()
        palette = self._view.palette()
        painter = QPainter(viewport)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            # The outline as a fill under the card's fill, not a stroke: Qt's antialiased
            # stroke of a card the width of the view took 0.14 ms per streamed piece.
            painter.setPen(Qt.PenStyle.NoPen)
            found = self.index.found()  # no ids needed to paint (nor the store)
            rects: dict[int, QRectF] = {}
            for place in self.index.in_sight(area.top(), area.bottom() + 1, rects):
                card = found[place]
                rect = rects.get(place) or self.index.rect(card)
                fill, outline = self._card_colours(palette, card.user)
                # Only the part in the area, its cut ends out of sight (a long answer's card
                # is taller than the view), and no shorter than two radii, which Qt would
                # shrink: a repaint of a strip must draw what a whole repaint does.
                top = max(rect.top(), area.top() - 2 * RADIUS - 4)
                bottom = min(rect.bottom(), area.bottom() + 2 * RADIUS + 4)
                rect = QRectF(rect.left(), top, rect.width(), bottom - top)
                painter.setBrush(outline)
                painter.drawRoundedRect(rect, RADIUS + 0.5, RADIUS + 0.5)
                painter.setBrush(fill)
                painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), RADIUS - 0.5, RADIUS - 0.5)
        finally:
            painter.end()

    def _card_colours(self, palette: QPalette, user: bool) -> tuple[QColor, QColor]:
        key = (palette.cacheKey(), user)
        colours = self._colours.get(key)
        if colours is None:
            if len(self._colours) > 8:  # palettes come and go with theme switches
                self._colours.clear()
            colours = self._colours[key] = card_colours(palette, user)
        return colours


def branch_of(window: MainWindow) -> Callable[[], Sequence[int]]:
    """The ids of the window's shown branch, asked when the cards are found again."""

    def ids() -> Sequence[int]:
        if window.conversation_id is None:
            return ()
        return window.library.branch_ids(window.conversation_id)

    return ids


def card_index(window: MainWindow) -> CardIndex:
    """The window's chat cards (one index, made when first asked for)."""
    existing = getattr(window, _INDEX, None)
    if isinstance(existing, CardIndex):
        return existing
    index = CardIndex(window.chat_view, branch_of(window))
    setattr(window, _INDEX, index)
    return index


def install_cards(window: MainWindow) -> CardPainter:
    """The chat's messages as painted cards (idempotent)."""
    existing = getattr(window, _ATTRIBUTE, None)
    if isinstance(existing, CardPainter):
        return existing
    painter = CardPainter(window.chat_view, card_index(window))
    setattr(window, _ATTRIBUTE, painter)
    return painter
