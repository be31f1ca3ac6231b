"""Find in chat: Chat → Find in chat… (Ctrl+F) opens a bar under the conversation with a text
field, a hit count ("3 of 12") and previous/next. Every hit is highlighted in the view, the
current one more strongly and scrolled into view. Enter / F3 go to the next hit, Shift+Enter /
Shift+F3 to the previous one; Esc closes the bar and gives the focus back to the message box.

The hits are the view's document's own (QTextDocument.find, case-insensitive), shown as the
view's ExtraSelections: nothing in the document is changed. While the bar is open the hits are
found again when the document changes (an answer streams in, another chat opens)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QColor,
    QKeyEvent,
    QKeySequence,
    QPalette,
    QShortcut,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextEdit,
    QWidget,
)

from desktop.ui.icon_set import set_icon
from desktop.ui.tone_colours import PaletteFollower

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

#: Hits found at most (a one-letter search in a huge chat stays quick).
MAX_HITS = 5_000
#: How long the document must be still before the hits are found again (ms).
REFRESH_MS = 150
#: How strongly a hit other than the current one is tinted with the palette's Highlight.
HIT_TINT = 80


class _FindField(QLineEdit):
    """The search text: Enter / Shift+Enter, F3 / Shift+F3 and Esc are the bar's, not the
    window's (Esc would otherwise stop the answer being generated)."""

    def __init__(self, bar: FindBar) -> None:
        super().__init__(bar)
        self._bar = bar

    def event(self, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_F3)
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        back = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_F3):
            self._bar.step(-1 if back else 1)
        elif event.key() == Qt.Key.Key_Escape:
            self._bar.close_bar()
        else:
            super().keyPressEvent(event)


class FindBar(QWidget):
    """Owns the find bar of one text view: its search text, its hits (as the view's extra
    selections) and which one is current. ``focus_back`` gets the focus when it closes."""

    def __init__(self, view: QTextEdit, focus_back: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("findBar")
        self.setAccessibleName("Find in chat")
        self.view = view
        self.focus_back = focus_back
        self.hits: list[QTextCursor] = []
        #: Chat → Find in chat… (set by install_find_bar).
        self.action: QAction | None = None
        self.current = -1
        self.field = _FindField(self)
        self.field.setPlaceholderText("Find in chat")
        self.field.setAccessibleName("Find in chat")
        self.count_label = QLabel("", self)
        self.count_label.setAccessibleName("Matches")
        self.previous_button = QPushButton("Previous", self)
        self.previous_button.setAccessibleName("Previous match")
        self.previous_button.setToolTip("Previous match (Shift+Enter, Shift+F3)")
        self.next_button = QPushButton("Next", self)
        self.next_button.setAccessibleName("Next match")
        self.next_button.setToolTip("Next match (Enter, F3)")
        self.close_button = QPushButton("Close", self)
        self.close_button.setAccessibleName("Close find")
        self.close_button.setToolTip("Close (Esc)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addWidget(self.field, 1)
        layout.addWidget(self.count_label)
        layout.addWidget(self.previous_button)
        layout.addWidget(self.next_button)
        layout.addWidget(self.close_button)
        self._timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._timer.timeout.connect(self._refind)
        #: The hits take the new theme's colours on a switch.
        self.hit_colours = PaletteFollower(view, self._paint_hits)
        self.field.textChanged.connect(lambda _text: self.search())
        self.previous_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.close_button.clicked.connect(self.close_bar)
        self._watching = False  # the chat's changes are followed only while the bar is open
        self.hide()

    def open_bar(self) -> None:
        """Show the bar with its text selected, ready to type over."""
        self._watch(True)
        self.show()
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()
        self.search(keep=True)

    def close_bar(self) -> None:
        self._watch(False)
        self.hide()

    def _watch(self, on: bool) -> None:
        # A Python slot on every streamed insertion costs the chat's append path (measured in
        # bench/stream_window.py): connected only while there are hits to keep up to date.
        if on and not self._watching:
            self.view.textChanged.connect(self._on_document_changed)
        elif not on and self._watching:
            self.view.textChanged.disconnect(self._on_document_changed)
        self._watching = on
        self.hits = []
        self.current = -1
        self.view.setExtraSelections([])
        self.focus_back.setFocus(Qt.FocusReason.OtherFocusReason)

    def search(self, keep: bool = False) -> None:
        """Find every hit of the text; the current one is the first (``keep``: the one at or
        after the current hit's place, as when the document changed)."""
        at = self.hits[self.current].selectionStart() if keep and self.hits else -1
        self.hits = self._find_all(self.field.text())
        self.current = -1
        if self.hits:
            later = [i for i, hit in enumerate(self.hits) if hit.selectionStart() >= at]
            self.current = later[0] if later else 0
        self._show()

    def step(self, direction: int) -> None:
        """The next (1) or previous (-1) hit, round at the ends."""
        if not self.hits:
            return
        self.current = (self.current + direction) % len(self.hits)
        self._show()

    def count_text(self) -> str:
        return self.count_label.text()

    def _find_all(self, text: str) -> list[QTextCursor]:
        hits: list[QTextCursor] = []
        if not text:
            return hits
        document = self.view.document()
        cursor = document.find(text, 0)
        while not cursor.isNull() and len(hits) < MAX_HITS:
            hits.append(cursor)
            cursor = document.find(text, cursor)
        return hits

    def _show(self) -> None:
        if not self.field.text():
            self.count_label.setText("")
        elif not self.hits:
            self.count_label.setText("No matches")
        else:
            self.count_label.setText(f"{self.current + 1:,} of {len(self.hits):,}")
        self._paint_hits()
        if self.hits:
            place = QTextCursor(self.hits[self.current])
            place.clearSelection()
            self.view.setTextCursor(place)
            self.view.ensureCursorVisible()

    def _paint_hits(self) -> None:
        """The current hit as a selection (Highlight, HighlightedText: AA in both themes), the
        others tinted with Highlight under their own text: the view's palette, read now
        (yellow and orange before, under which the dark theme's light text read at 2.6:1)."""
        if not self.hits and not self.view.extraSelections():
            return
        palette = self.view.palette()
        current = palette.color(QPalette.ColorRole.Highlight)
        tint = QColor(current)
        tint.setAlpha(HIT_TINT)
        selections = []
        for i, hit in enumerate(self.hits):
            selection = QTextEdit.ExtraSelection()
            selection.cursor = hit
            if i == self.current:
                selection.format.setBackground(current)
                selection.format.setForeground(palette.color(QPalette.ColorRole.HighlightedText))
            else:
                selection.format.setBackground(tint)
            selections.append(selection)
        self.view.setExtraSelections(selections)

    def _on_document_changed(self) -> None:
        if self.isVisible() and self.field.text():
            self._timer.start()

    def _refind(self) -> None:
        if self.isVisible():
            self.search(keep=True)


def install_find_bar(window: MainWindow) -> FindBar:
    """The find bar under the window's chat view, Chat → Find in chat… (Ctrl+F), and F3 /
    Shift+F3 anywhere in the window."""
    view = window.chat_view
    holder = view.parentWidget()
    bar = FindBar(view, window.input_box, holder)
    layout = holder.layout() if holder is not None else None
    if isinstance(layout, QBoxLayout):
        layout.insertWidget(layout.indexOf(view) + 1, bar)
    action = QAction("&Find in chat…", window, shortcut=QKeySequence(QKeySequence.StandardKey.Find))
    action.triggered.connect(bar.open_bar)
    set_icon(action, "find")
    window.menus.chat_menu.addSeparator()
    window.menus.chat_menu.addAction(action)
    for keys, direction in (("F3", 1), ("Shift+F3", -1)):
        shortcut = QShortcut(QKeySequence(keys), window)
        shortcut.activated.connect(lambda d=direction: _step_or_open(bar, d))
    bar.action = action
    return bar


def _step_or_open(bar: FindBar, direction: int) -> None:
    if bar.isVisible():
        bar.step(direction)
    else:
        bar.open_bar()
