"""A long answer into the chat document over several event-loop turns, not in one stall.

A finished long answer's Markdown goes in a part at a time, each part replacing its own plain
text (render_part); an oversized stored answer's plain text goes in a slice at a time where
message_html left a mark (take_fills). ChatView (chat_view.py) decides when each step runs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from PySide6.QtGui import QTextCursor, QTextDocument, QTextDocumentFragment

from desktop.ui.render import markdown_to_html

#: Where an oversized stored answer's text goes in, when a chat is opened: private-use
#: characters, found and removed right after the HTML is set (an answer holding them is not
#: deferred). Its text is then inserted FILL_SLICE_CHARS at a time, one slice per event-loop
#: turn, as a huge streamed piece is: in the HTML at once it would hold the window in one stall.
FILL_MARK = "\ue000\ue001\ue002"
FILL_SLICE_CHARS = 20_000


def utf16_length(text: str) -> int:
    """Length in QTextDocument positions (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Rendering:
    """A finished answer being rendered a part at a time.

    Attributes:
        position: where the answer's plain text not rendered yet begins (a block's start).
        parts: the Markdown parts still to render, in order.
        tail: HTML after the last part (status note, footer).
        first: True until the first part is in (it goes where the whole render would).
    """

    position: int
    parts: deque[str] = field(default_factory=deque)
    tail: str = ""
    first: bool = True


def render_part(document: QTextDocument, rendering: Rendering) -> None:
    """Render the next part of ``rendering`` in place of its plain text in ``document``."""
    part = rendering.parts.popleft()
    last = not rendering.parts
    # Not the last part: without the newline after its closing tag, which the HTML
    # import would keep as a space at the end of the part's last line.
    rendered = markdown_to_html(part)
    fragment = QTextDocumentFragment.fromHtml(
        rendered + rendering.tail if last else rendered.rstrip(), document
    )
    cursor = QTextCursor(document)
    # One edit for Qt's layout, not five: each edit re-positions everything below it.
    cursor.beginEditBlock()
    cursor.setPosition(rendering.position)
    cursor.setPosition(rendering.position + utf16_length(part), QTextCursor.MoveMode.KeepAnchor)
    cursor.removeSelectedText()
    if not last:
        # An empty block of its own for the part, ahead of the plain text still to go.
        cursor.insertBlock()
        cursor.movePosition(QTextCursor.MoveOperation.PreviousBlock)
    if not rendering.first:
        # A fragment's first block takes the format of the block it goes into: give that
        # block the format the whole render gives it (it would be a new block there).
        scratch = QTextDocument()
        QTextCursor(scratch).insertFragment(fragment)  # at 0, the first block's formats too
        block = scratch.firstBlock()
        if block.blockFormat().objectIndex() < 0:  # not in a list or table
            cursor.setBlockFormat(block.blockFormat())
            cursor.setBlockCharFormat(block.charFormat())
    cursor.insertFragment(fragment)
    cursor.endEditBlock()
    rendering.first = False
    rendering.position = cursor.position() + 1  # past the new block's separator


def take_fills(
    document: QTextDocument, waiting: list[str]
) -> deque[tuple[QTextCursor, deque[str]]]:
    """Find the marks message_html left for the ``waiting`` texts (in document order, as
    registered) and remove them: where each text goes, and its slices."""
    fills: deque[tuple[QTextCursor, deque[str]]] = deque()
    after = QTextCursor(document)
    for shown in waiting:
        found = document.find(FILL_MARK, after)
        if found.isNull():
            continue
        found.removeSelectedText()
        # Each line becomes a block with this one's format: without paragraph margins,
        # or the lines would be spaced like paragraphs.
        tight = found.blockFormat()
        tight.setTopMargin(0)
        tight.setBottomMargin(0)
        found.setBlockFormat(tight)
        size = FILL_SLICE_CHARS
        fills.append((found, deque(shown[i : i + size] for i in range(0, len(shown), size))))
        after = QTextCursor(found)
    return fills
