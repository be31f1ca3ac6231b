"""The conversation sidebar: New chat, a search box over every message (SQLite FTS5), and the
chats grouped by date with pinned ones first. Search hits show a highlighted snippet, grouped
by chat (its title once, its hits under it); choosing one opens its chat at that message. A
row's context menu acts on that row's chat.

The list is read a page at a time: the first page when it is shown, the next when it is
scrolled near its end (as Qt's fetchMore does for item models), and a refresh rebuilds only the
rows that changed: a refresh comes with every message sent and every chat opened, so with
thousands of chats it must cost what changed, not what is listed (docs/reliability.md).

Search hits have a list of their own, shown in the chat list's place while searching, so the
chat list is never emptied for them (clearing thousands of rows stalls the first key of a
search) and comes back as it was left, scrolled where it was."""

from __future__ import annotations

import html
from datetime import datetime, timezone

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QContextMenuEvent, QFont, QPalette
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat_records import HIT_END, HIT_START, ConversationTitle, SearchHit
from desktop.core.history_format import group_of
from desktop.services.library import ChatLibrary
from desktop.ui.icon_set import set_icon
from desktop.ui.tone_colours import TableTones, tone_item

CONVERSATION_ROLE = Qt.ItemDataRole.UserRole
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1
#: A search hit's title line (empty below its chat's first hit) and its snippet, as HTML.
HIT_TITLE_ROLE = Qt.ItemDataRole.UserRole + 2
HIT_SNIPPET_ROLE = Qt.ItemDataRole.UserRole + 3
SEARCH_DELAY_MS = 150
#: Chats read per page: more than a tall window shows, few enough to build in milliseconds.
PAGE_SIZE = 200

#: A row of the chat list: a chat's id and title, or (None, label) for a date group's header.
_Row = tuple[int | None, str]


def snippet_html(snippet: str) -> str:
    """A search snippet with its hits in bold (the text itself escaped)."""
    escaped = html.escape(snippet.replace("\n", " "))
    return escaped.replace(HIT_START, "<b>").replace(HIT_END, "</b>")


#: A row's context menu: (what it asks, its label). The pin entry's label follows the chat.
ROW_ACTIONS = (
    ("open", "Open"),
    ("rename", "Rename…"),
    ("pin", "Pin to the top"),
    ("duplicate", "Duplicate"),
    ("export", "Export…"),
    ("delete", "Delete"),
)


class Sidebar(QWidget):
    """The chat list and search beside the conversation; it reads the library page by page.

    Signals:
    chosen(int, int): conversation id, and the message to show (0: the latest).
    new_requested(): the New chat button.
    row_action(str, int): an entry of a row's context menu (see ROW_ACTIONS), and the chat of
        the row it was opened on (not necessarily the chat on screen).
    """

    chosen = Signal(int, int)
    new_requested = Signal()
    row_action = Signal(str, int)

    def __init__(self, library: ChatLibrary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: The chats listed, searched and acted on (a store given is wrapped in a library).
        self.library = library
        self.current_id: int | None = None
        self.new_button = QPushButton("New chat", self)
        self.new_button.setAccessibleName("New chat")
        set_icon(self.new_button, "new_chat")
        self.new_button.clicked.connect(self.new_requested)
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("searchBox")
        self.search_edit.setAccessibleName("Search all chats")
        self.search_edit.setPlaceholderText("Search all chats (Ctrl+K)")
        self.search_edit.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setObjectName("conversationList")
        self.list.setAccessibleName("Conversations")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setWordWrap(False)
        self.hits = QListWidget(self)
        self.hits.setObjectName("searchHits")
        self.hits.setAccessibleName("Search results")
        self.hits.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        #: The chat list, or the search hits in its place.
        self.stack = QStackedWidget(self)
        self.header_tones = (TableTones(self.list), TableTones(self.hits))  # follow a switch
        self.stack.addWidget(self.list)
        self.stack.addWidget(self.hits)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 0, 8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.stack, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        #: Chats listed so far (pages read), whether the library may hold more, and the group
        #: label of the last chat listed (a page may continue its group).
        self._loaded = 0
        self._more = False
        self._group: str | None = None
        #: What the list shows while not searching, row by row.
        self._rows: list[_Row] = []
        self.list.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.search_edit.textChanged.connect(lambda _text: self._timer.start())
        self.hits.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.hits.itemSelectionChanged.connect(self._on_hits_selected)
        for listing in (self.list, self.hits):
            listing.itemActivated.connect(self._on_item)
            listing.itemClicked.connect(self._on_item)
            listing.customContextMenuRequested.connect(
                lambda pos, listed=listing: self._row_menu(listed, pos)
            )
            listing.installEventFilter(self)  # the Menu key, Shift+F10: see eventFilter
        self.hits.viewport().installEventFilter(self)  # its width sets the hits' heights

    @property
    def searching(self) -> bool:
        return bool(self.search_edit.text().strip())

    @property
    def has_more(self) -> bool:
        """Chats beyond the pages listed so far (scrolling down lists them)."""
        return self._more

    @Slot()
    def refresh(self) -> None:
        """Show the library's chats (or the search's hits) as they are now."""
        if self.searching:
            self.hits.blockSignals(True)
            self.hits.clear()
            self._show_hits()
            self.hits.blockSignals(False)
            self.stack.setCurrentWidget(self.hits)
            self._fit_hit_rows()
            return
        self.list.blockSignals(True)
        self._relist()
        self.list.blockSignals(False)
        self.stack.setCurrentWidget(self.list)

    def _relist(self) -> None:
        """The first page; or, when the open chat is further down the pages listed before, the
        pages up to it (so it stays selected and in view). Only rows that changed are rebuilt:
        opening a chat, or an answer in the chat at the top, changes none."""
        wanted = max(PAGE_SIZE, self._loaded)
        # One more than asked tells whether there is a next page without counting every row.
        chats = self.library.titles(limit=wanted + 1)
        count = PAGE_SIZE
        for position, chat in enumerate(chats[:wanted]):
            if chat.id == self.current_id:
                count = max(PAGE_SIZE, (position // PAGE_SIZE + 1) * PAGE_SIZE)
                break
        self._more = len(chats) > count
        chats = chats[:count]
        self._loaded = len(chats)
        self._group = None
        rows = self._rows_of(chats)
        same = 0
        for old, new in zip(self._rows, rows, strict=False):
            if old != new:
                break
            same += 1
        if same < len(self._rows):
            self.list.model().removeRows(same, len(self._rows) - same)
        self._add_rows(rows[same:])
        self._rows = rows
        self.select(self.current_id)

    def fetch_more(self) -> None:
        """The next page of chats, after the ones listed."""
        if not self._more or self.searching:
            return
        chats = self.library.titles(limit=PAGE_SIZE + 1, offset=self._loaded)
        self._more = len(chats) > PAGE_SIZE
        chats = chats[:PAGE_SIZE]
        self._loaded += len(chats)
        rows = self._rows_of(chats)
        self.list.blockSignals(True)
        self._add_rows(rows)
        self._rows += rows
        self.list.blockSignals(False)

    @Slot(int)
    def _on_scrolled(self, value: int) -> None:
        bar = self.list.verticalScrollBar()
        # Near the end (within a screenful), so the next rows are there before they are needed.
        if self._more and value >= bar.maximum() - bar.pageStep():
            self.fetch_more()

    def _rows_of(self, chats: list[ConversationTitle]) -> list[_Row]:
        """The rows for these chats, a date group's header before its first chat (a page
        may continue the group of the one before)."""
        now = datetime.now(timezone.utc)
        rows: list[_Row] = []
        for chat in chats:
            label = group_of(chat.updated, chat.pinned, now)
            if label != self._group:
                rows.append((None, label))
                self._group = label
            rows.append((chat.id, chat.title))
        return rows

    def _add_rows(self, rows: list[_Row]) -> None:
        for conversation_id, text in rows:
            if conversation_id is None:
                self._header(self.list, text)
                continue
            item = QListWidgetItem(text)
            item.setData(CONVERSATION_ROLE, conversation_id)
            item.setData(MESSAGE_ROLE, 0)
            item.setToolTip(text)
            self.list.addItem(item)

    @staticmethod
    def _header(listing: QListWidget, text: str) -> None:
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)  # a label, not a chat
        font = QFont(listing.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 0.9)
        item.setFont(font)
        tone_item(item, "muted")  # Qt's grey read at 2.6:1 on the light list
        listing.addItem(item)

    def _show_hits(self) -> None:
        """The hits grouped by chat, the chats in the order of their best hit: a chat's title
        once, on its first hit's row (with how many of its messages match), its other hits
        under it. Each row opens its chat at its own message."""
        hits = self.library.search(self.search_edit.text())
        if not hits:
            self._header(self.hits, "No messages match")
            return
        by_chat: dict[int, list[SearchHit]] = {}
        for hit in hits:
            by_chat.setdefault(hit.conversation_id, []).append(hit)
        for chat_hits in by_chat.values():
            count = len(chat_hits)
            for position, hit in enumerate(chat_hits):
                item = QListWidgetItem()
                item.setData(CONVERSATION_ROLE, hit.conversation_id)
                item.setData(MESSAGE_ROLE, hit.message_id)
                item.setToolTip(hit.title)
                title = ""
                if position == 0:
                    title = f"<b>{html.escape(hit.title)}</b>"
                    if count > 1:
                        title += f" · {count} matches"
                item.setData(HIT_TITLE_ROLE, title)
                item.setData(HIT_SNIPPET_ROLE, snippet_html(hit.snippet))
                label = QLabel()
                label.setObjectName("searchHit")
                label.setWordWrap(True)
                label.setTextFormat(Qt.TextFormat.RichText)
                # A chat's later hits sit under its title, indented; a chat's first row has a
                # little room above it, apart from the chat before.
                first = position == 0
                label.setContentsMargins(4 if first else 18, 6 if first else 1, 4, 3)
                label.setText(self._hit_html(item, selected=False))
                item.setSizeHint(label.sizeHint())
                self.hits.addItem(item)
                self.hits.setItemWidget(item, label)

    def _hit_html(self, item: QListWidgetItem, *, selected: bool) -> str:
        """A hit's words in the palette's colours: the title in the text colour and the snippet
        dimmed towards the background; the whole hit in the highlighted text colour when it
        is selected (the dimmed grey on the selection's blue was hard to read)."""
        palette = self.hits.palette()
        group = (
            QPalette.ColorGroup.Active
            if self.hits.isActiveWindow()
            else QPalette.ColorGroup.Inactive
        )
        if selected:
            text = dim = palette.color(group, QPalette.ColorRole.HighlightedText).name()
        else:
            # Dimmed from the theme's text colour towards its background (a fixed grey is
            # near-invisible on the dark palette; PlaceholderText's dimming is an alpha, which
            # rich text drops).
            fore = palette.color(group, QPalette.ColorRole.Text)
            base = palette.color(group, QPalette.ColorRole.Base)
            text = fore.name()
            dim = "#" + "".join(
                f"{round(t * 0.65 + b * 0.35):02x}"
                for t, b in (
                    (fore.red(), base.red()),
                    (fore.green(), base.green()),
                    (fore.blue(), base.blue()),
                )
            )
        title = str(item.data(HIT_TITLE_ROLE) or "")
        snippet = f"<span style='color:{dim}'>{item.data(HIT_SNIPPET_ROLE) or ''}</span>"
        return f"<span style='color:{text}'>{title}<br>{snippet}</span>" if title else snippet

    def _fit_hit_rows(self) -> None:
        """Each hit's row as tall as its words wrapped at the list's width (a label's own size
        hint guesses a narrower width: rows with a blank line or two under the words)."""
        width = self.hits.viewport().width()
        if width <= 0:
            return
        for row in range(self.hits.count()):
            item = self.hits.item(row)
            label = self.hits.itemWidget(item)
            if isinstance(label, QLabel):
                height = label.heightForWidth(width)
                if height > 0 and height != item.sizeHint().height():
                    item.setSizeHint(QSize(width, height))

    @Slot()
    def _on_hits_selected(self) -> None:
        for row in range(self.hits.count()):
            item = self.hits.item(row)
            label = self.hits.itemWidget(item)
            if isinstance(label, QLabel):
                label.setText(self._hit_html(item, selected=item.isSelected()))

    @Slot(QListWidgetItem)
    def _on_item(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(CONVERSATION_ROLE)
        if conversation_id is not None:
            self.chosen.emit(int(conversation_id), int(item.data(MESSAGE_ROLE) or 0))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The keyboard's context menu (Menu key, Shift+F10) opens the current row's menu,
        under that row (Qt would put it wherever the mouse pointer happens to be). The hits
        take the colours of a new palette (a theme switch) and of the window's (in)activity."""
        if watched is self.hits.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_hit_rows()
        if watched is self.hits and event.type() in (
            QEvent.Type.PaletteChange,
            QEvent.Type.WindowActivate,
            QEvent.Type.WindowDeactivate,
        ):
            self._on_hits_selected()
        if (
            event.type() == QEvent.Type.ContextMenu
            and isinstance(event, QContextMenuEvent)
            and event.reason() == QContextMenuEvent.Reason.Keyboard
            and isinstance(watched, QListWidget)
        ):
            item = watched.currentItem()
            if item is not None:
                self._row_menu(watched, watched.visualItemRect(item).center())
            return True
        return super().eventFilter(watched, event)

    def _row_menu(self, listing: QListWidget, pos: QPoint) -> None:
        """The menu of the row right-clicked: it acts on that row's chat, which is highlighted
        while the menu is open (the open chat is selected again after)."""
        item = listing.itemAt(pos)
        conversation_id = item.data(CONVERSATION_ROLE) if item is not None else None
        if item is None or conversation_id is None:
            return  # a date header, or empty space: nothing to act on
        target = int(conversation_id)
        blocked = listing.blockSignals(True)
        listing.setCurrentRow(listing.row(item))
        listing.blockSignals(blocked)
        menu = QMenu(self)
        menu.setObjectName("chatRowMenu")
        pinned = self.library.is_pinned(target)
        for key, label in ROW_ACTIONS:
            action = menu.addAction("Unpin" if key == "pin" and pinned else label)
            action.setObjectName(f"row-{key}")
            action.triggered.connect(lambda _checked=False, k=key: self.row_action.emit(k, target))
            if key == "open":
                menu.setDefaultAction(action)
                menu.addSeparator()
            elif key == "export":
                menu.addSeparator()
        menu.exec(listing.viewport().mapToGlobal(pos))
        menu.deleteLater()
        if listing is self.list:
            self.select(self.current_id)  # the highlight goes back to the chat on screen
        else:
            blocked = listing.blockSignals(True)
            listing.setCurrentRow(-1)
            listing.blockSignals(blocked)

    def show_opened(self, conversation_id: int) -> None:
        """The chat just opened, selected. Opening a chat changes nothing in the list (every
        change to it comes with a refresh), so a chat already listed is only selected rather
        than the listing read anew at every chat switch. One not listed (beyond the pages
        read, or new) is listed by a refresh."""
        if not self.select(conversation_id):
            self.refresh()

    def select(self, conversation_id: int | None) -> bool:
        """Mark the open chat (without emitting chosen); none when it is not listed. Returns
        whether it is listed (while searching: whether the chat list, out of sight, has it)."""
        self.current_id = conversation_id
        row = next(
            (i for i, (listed, _text) in enumerate(self._rows) if listed == conversation_id), -1
        )
        if self.searching or row == self.list.currentRow():
            return row >= 0
        blocked = self.list.blockSignals(True)
        self.list.setCurrentRow(row)
        self.list.blockSignals(blocked)
        return row >= 0
