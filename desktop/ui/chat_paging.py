"""Which of a long chat's messages the chat view has rendered, and the document edits that
render more of them: older ones above (when the user scrolls to the top), later ones below
(when the user scrolls to the bottom of a chat opened at an old search hit).

A chat opens with a window of its messages rendered: its latest FIRST_RENDER, or a few before a
search hit and AFTER_HIT after it. Rendering everything from an old hit to the end took seconds
in a 5,000-message chat; a window takes what a normal opening takes. The rendered messages are
always one run of the chat, in order, so paging both ways reaches every message exactly once.
"""

from __future__ import annotations

from PySide6.QtGui import QTextCursor, QTextDocument

from desktop.core.chat_records import StoredMessage
from desktop.ui.render import action_href
from desktop.ui.tone_colours import tone_css

#: The "Show later messages" link's action, handled by the view itself.
LATER = "later"
#: Messages rendered above a search hit when a chat opens there (to scroll up to at once).
BEFORE_HIT = 10
#: Messages rendered from a search hit on: enough to fill any window below it.
AFTER_HIT = 50
#: Later messages rendered at a time when the user scrolls to the bottom or asks for them.
LATER_BATCH = 100


class Pages:
    """Owns the shown chat's messages and which run of them is rendered: ``start`` to ``end``
    (those before wait above, those after wait below)."""

    def __init__(self) -> None:
        self.messages: list[StoredMessage] = []
        self.start = 0
        self.end = 0

    def open(self, messages: list[StoredMessage], at_message: int, first_render: int) -> None:
        """The run to render first: the latest ``first_render`` messages, or the window around
        message ``at_message``; a window that would end near the chat's end goes to it."""
        self.messages = messages
        count = len(messages)
        latest = max(0, count - first_render)
        hit = next((i for i, m in enumerate(messages) if m.id == at_message), None)
        if not at_message or hit is None:
            self.start, self.end = latest, count
            return
        self.end = hit + AFTER_HIT
        if self.end >= latest:  # little would be left below: render to the end, as before
            self.start, self.end = min(latest, max(0, hit - BEFORE_HIT)), count
        else:
            self.start = max(0, hit - BEFORE_HIT)

    @property
    def earlier_count(self) -> int:
        return self.start

    @property
    def later_count(self) -> int:
        return len(self.messages) - self.end

    @property
    def rendered(self) -> list[StoredMessage]:
        return self.messages[self.start : self.end]

    def take_earlier(self, count: int) -> list[StoredMessage]:
        """Up to ``count`` messages just above the rendered ones, now counted as rendered."""
        start = max(0, self.start - count)
        batch, self.start = self.messages[start : self.start], start
        return batch

    def take_later(self, count: int) -> list[StoredMessage]:
        """Up to ``count`` messages just below the rendered ones, now counted as rendered."""
        end = min(len(self.messages), self.end + count)
        batch, self.end = self.messages[self.end : end], end
        return batch


def later_link(count: int) -> str:
    """The link below the rendered messages while ``count`` later ones wait ("" for none)."""
    if not count:
        return ""
    # Room above it: the last card is drawn 8 px below its text and must not reach the link.
    muted = tone_css("muted")
    return (
        f'<p align="center" style="color:{muted}; font-size:small; margin-top:16px">'
        f'<a href="{action_href(LATER, 0)}">Show later messages</a>'
        f" ({count:,} more)</p>"
    )


def insert_above(document: QTextDocument, fragment: str) -> float:
    """Put ``fragment`` (the "earlier" link, if any is left, then older messages) in place of
    the document's first block, the "earlier" link; returns how many pixels the first message
    that was rendered moved down (the view scrolls by as much, so nothing on screen moves)."""
    layout = document.documentLayout()
    link = document.firstBlock()
    # A cursor at the first rendered message follows the insertion above it.
    kept = QTextCursor(document)
    kept.setPosition(link.next().position())
    top_before = layout.blockBoundingRect(kept.block()).top()
    cursor = QTextCursor(link)
    cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
    # Without its trailing line break, which would end the batch's last paragraph in a space.
    cursor.insertHtml(fragment.rstrip())
    if not document.firstBlock().text():
        # The last link's paragraph, now empty, would leave a gap above the first message.
        cursor = QTextCursor(document.firstBlock())
        cursor.movePosition(QTextCursor.MoveOperation.NextBlock, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
    return float(layout.blockBoundingRect(kept.block()).top() - top_before)


def insert_below(document: QTextDocument, fragment: str, first: str) -> None:
    """Put ``fragment`` (later messages, then the "later" link if any are left) in place of
    the document's last block, the "later" link. ``first``: the first message's HTML alone,
    whose first paragraph's format the link's block takes (insertHtml merges that paragraph
    into the block, keeping the link's centring and margins)."""
    cursor = QTextCursor(document)
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock, QTextCursor.MoveMode.KeepAnchor)
    start = cursor.selectionStart()
    cursor.insertHtml(fragment)
    cursor.setPosition(start)
    scratch = QTextDocument()  # the formats Qt gives that paragraph in a document of its own
    scratch.setHtml(first)
    cursor.setBlockFormat(scratch.firstBlock().blockFormat())
    cursor.setBlockCharFormat(scratch.firstBlock().charFormat())
