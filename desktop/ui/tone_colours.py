"""The design tones where the app stylesheet cannot reach them: HTML written into a text view,
a table item's foreground, a label's badge. Each reads the theme from the palette at render
time, and follows a theme switch:

    cell.setForeground(tone_colour("success"))   # then TableTones(table) keeps it in step
    f'<span style="color:{tone_css("muted")}">'   # then DocumentTones(view) keeps it in step

Qt's HTML import bakes a colour into the text as it reads it, so ``DocumentTones`` gives text
written in the old theme's tones the new theme's, in place (as link_colours.py does for links).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFrame,
    QTextTable,
)
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QTextEdit,
    QWidget,
)

from desktop.ui.design import TONES, Colours, Tone, colours_for

#: The item data role that remembers a table item's tone (read by ``TableTones``).
TONE_ROLE = Qt.ItemDataRole.UserRole + 71


def theme_colours(palette: QPalette | None = None) -> Colours:
    """The design colours of the theme ``palette`` (the application's by default) is in."""
    palette = palette if palette is not None else QGuiApplication.palette()
    return colours_for(palette.color(QPalette.ColorRole.Window).lightness() < 128)


def tone_colour(tone: Tone, palette: QPalette | None = None) -> QColor:
    return QColor(theme_colours(palette).tone(tone))


def tone_css(tone: Tone, palette: QPalette | None = None) -> str:
    """The tone as a CSS colour for HTML, e.g. ``#5d6470``."""
    return theme_colours(palette).tone(tone)


class PaletteFollower(QObject):
    """Calls ``callback`` once each time the theme (light or dark) of ``widget``'s palette
    changes: for colours written where neither the palette nor the stylesheet reaches."""

    def __init__(self, widget: QWidget, callback: Callable[[], None]) -> None:
        super().__init__(widget)
        self._widget = widget
        self._callback = callback
        self._colours = theme_colours()
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._widget and event.type() in (
            QEvent.Type.PaletteChange,
            QEvent.Type.ApplicationPaletteChange,
        ):
            now = theme_colours()
            if now is not self._colours:  # once a switch, and never on a restyle of our own
                self._colours = now
                self._callback()
        return False


def tone_item(item: QTableWidgetItem | QListWidgetItem, tone: Tone) -> None:
    """Colour an item's text in ``tone``; ``TableTones`` recolours it on a switch."""
    item.setData(TONE_ROLE, tone)
    item.setForeground(tone_colour(tone))


def set_item_tone(table: QTableWidget, row: int, column: int, tone: Tone) -> None:
    """Colour the item at (row, column) in ``tone``."""
    item = table.item(row, column)
    if item is not None:
        tone_item(item, tone)


class TableTones(PaletteFollower):
    """Gives a table's or a list's items toned with ``tone_item`` the new theme's colour on a
    switch."""

    def __init__(self, view: QTableWidget | QListWidget) -> None:
        super().__init__(view, self.recolour)
        self._view = view

    def _items(self) -> list[QTableWidgetItem | QListWidgetItem | None]:
        view = self._view
        if isinstance(view, QListWidget):
            return [view.item(row) for row in range(view.count())]
        columns = range(view.columnCount())
        return [view.item(row, column) for row in range(view.rowCount()) for column in columns]

    def recolour(self) -> None:
        for item in self._items():
            tone = item.data(TONE_ROLE) if item is not None else None
            if item is not None and tone in TONES:
                item.setForeground(tone_colour(tone))


def recolour_tones(document: QTextDocument, old: Colours, new: Colours) -> int:
    """Give text (and table borders) written in ``old``'s tones ``new``'s; returns how many
    runs and tables changed."""
    mapping = {QColor(old.tone(t)).rgb(): QColor(new.tone(t)) for t in TONES}
    runs: list[tuple[int, int, QColor]] = []
    block = document.firstBlock()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            form = fragment.charFormat()
            if form.hasProperty(QTextCharFormat.Property.ForegroundBrush):
                colour = mapping.get(form.foreground().color().rgb())
                if colour is not None:
                    runs.append((fragment.position(), fragment.length(), colour))
            it += 1
        block = block.next()
    cursor = QTextCursor(document)
    cursor.beginEditBlock()
    for position, length, colour in runs:
        change = QTextCharFormat()
        change.setForeground(colour)
        cursor.setPosition(position)
        cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(change)
    tables = _recolour_borders(document.rootFrame(), mapping)
    cursor.endEditBlock()
    return len(runs) + tables


def _recolour_borders(frame: QTextFrame, mapping: dict[int, QColor]) -> int:
    count = 0
    for child in frame.childFrames():
        if isinstance(child, QTextTable):
            form = child.format()
            colour = mapping.get(form.borderBrush().color().rgb())
            if colour is not None:
                form.setBorderBrush(colour)
                child.setFormat(form)
                count += 1
        count += _recolour_borders(child, mapping)
    return count


class DocumentTones(PaletteFollower):
    """Owns the theme a text view's document was written in, and gives its toned text the new
    theme's tones when the application's palette switches between light and dark."""

    def __init__(self, view: QTextEdit) -> None:
        self._written = theme_colours()
        super().__init__(view, self.follow)
        self._view = view

    def follow(self) -> None:
        new = theme_colours()
        if new is not self._written:
            recolour_tones(self._view.document(), self._written, new)
            self._written = new


def install_tone_colours(view: QTextEdit) -> DocumentTones:
    """The view's ``DocumentTones`` (made once: calling again returns the one it has)."""
    existing = view.findChild(DocumentTones, options=Qt.FindChildOption.FindDirectChildrenOnly)
    return existing if isinstance(existing, DocumentTones) else DocumentTones(view)
