"""The chat view's links follow the theme.

Qt's HTML import bakes the application palette's link colour into each link as it reads the
HTML (QTextHtmlParser sets the anchor's foreground from QGuiApplication::palette().link()), so
a chat rendered in light colours kept pale-on-dark links after View → Theme → Dark, until
another chat was opened. When the palette changes, the links written in the old link colour
are given the new one, in place: nothing is re-read or re-laid out (a colour changes no
heights, so the scroll position stays), and an answer streaming meanwhile is untouched.
Links that carry a colour of their own (the grey "▸ Thought" line) keep it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QTextEdit


def link_colour() -> QColor:
    """The colour Qt's HTML import gives a link now: the application palette's."""
    return QGuiApplication.palette().color(QPalette.ColorRole.Link)


def recolour_links(document: QTextDocument, old: QColor, new: QColor) -> int:
    """Give every link shown in ``old`` the colour ``new``; returns how many runs changed."""
    runs: list[tuple[int, int]] = []
    block = document.firstBlock()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            form = fragment.charFormat()
            if form.isAnchor() and form.anchorHref() and form.foreground().color() == old:
                runs.append((fragment.position(), fragment.length()))
            it += 1
        block = block.next()
    if not runs:
        return 0
    change = QTextCharFormat()
    change.setForeground(new)
    cursor = QTextCursor(document)
    cursor.beginEditBlock()
    for position, length in runs:
        cursor.setPosition(position)
        cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(change)
    cursor.endEditBlock()
    return len(runs)


class LinkColours(QObject):
    """Owns the link colour a text view's document was written in, and recolours its links
    when the application's palette changes (a theme switch, or the system's)."""

    def __init__(self, view: QTextEdit) -> None:
        super().__init__(view)
        self._view = view
        self._colour = link_colour()
        view.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._view and event.type() in (
            QEvent.Type.PaletteChange,
            QEvent.Type.ApplicationPaletteChange,
        ):
            self.follow()
        return False

    def follow(self) -> None:
        """Bring the view's links to the palette's link colour, if it changed."""
        new = link_colour()
        if new != self._colour:
            recolour_links(self._view.document(), self._colour, new)
            self._colour = new
