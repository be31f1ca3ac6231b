"""The conversation sidebar: New chat, a search box over every message (SQLite FTS5), and the
chats grouped by date with pinned ones first. Search hits show a highlighted snippet; choosing
one opens its chat at that message."""

from __future__ import annotations

import html
from datetime import datetime, timezone

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.history_format import group_of
from desktop.storage.store import HIT_END, HIT_START, ChatStore, Conversation

CONVERSATION_ROLE = Qt.ItemDataRole.UserRole
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_DELAY_MS = 150


def snippet_html(snippet: str) -> str:
    """A search snippet with its hits in bold (the text itself escaped)."""
    escaped = html.escape(snippet.replace("\n", " "))
    return escaped.replace(HIT_START, "<b>").replace(HIT_END, "</b>")


class Sidebar(QWidget):
    """Signals:
    chosen(int, int): conversation id, and the message to show (0: the latest).
    new_requested(): the New chat button.
    """

    chosen = Signal(int, int)
    new_requested = Signal()

    def __init__(self, store: ChatStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.current_id: int | None = None
        self.new_button = QPushButton("New chat", self)
        self.new_button.setAccessibleName("New chat")
        self.new_button.clicked.connect(self.new_requested)
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("searchBox")
        self.search_edit.setAccessibleName("Search all chats")
        self.search_edit.setPlaceholderText("Search all chats (Ctrl+K)")
        self.search_edit.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setObjectName("conversationList")
        self.list.setAccessibleName("Conversations")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setWordWrap(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 0, 8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.list, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self.search_edit.textChanged.connect(lambda _text: self._timer.start())
        self.list.itemActivated.connect(self._on_item)
        self.list.itemClicked.connect(self._on_item)

    @property
    def searching(self) -> bool:
        return bool(self.search_edit.text().strip())

    @Slot()
    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        if self.searching:
            self._show_hits()
        else:
            self._show_groups(self.store.list_conversations())
        self.list.blockSignals(False)

    def _header(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)  # a label, not a chat
        font = QFont(self.list.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 0.9)
        item.setFont(font)
        item.setForeground(Qt.GlobalColor.gray)
        self.list.addItem(item)

    def _show_groups(self, conversations: list[Conversation]) -> None:
        now = datetime.now(timezone.utc)
        group = None
        for conversation in conversations:
            label = group_of(conversation.updated, conversation.pinned, now)
            if label != group:
                self._header(label)
                group = label
            item = QListWidgetItem(conversation.title)
            item.setData(CONVERSATION_ROLE, conversation.id)
            item.setData(MESSAGE_ROLE, 0)
            item.setToolTip(conversation.title)
            self.list.addItem(item)
            if conversation.id == self.current_id:
                self.list.setCurrentItem(item)

    def _show_hits(self) -> None:
        hits = self.store.search(self.search_edit.text())
        if not hits:
            self._header("No messages match")
            return
        for hit in hits:
            item = QListWidgetItem()
            item.setData(CONVERSATION_ROLE, int(hit["conversation_id"]))
            item.setData(MESSAGE_ROLE, int(hit["message_id"]))
            item.setToolTip(str(hit["title"]))
            label = QLabel(
                f"<b>{html.escape(str(hit['title']))}</b><br>"
                f"<span style='color:#555'>{snippet_html(str(hit['snippet']))}</span>"
            )
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setContentsMargins(4, 3, 4, 3)
            item.setSizeHint(label.sizeHint())
            self.list.addItem(item)
            self.list.setItemWidget(item, label)

    @Slot(QListWidgetItem)
    def _on_item(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(CONVERSATION_ROLE)
        if conversation_id is not None:
            self.chosen.emit(int(conversation_id), int(item.data(MESSAGE_ROLE) or 0))

    def select(self, conversation_id: int | None) -> None:
        """Mark the open chat (without emitting chosen)."""
        self.current_id = conversation_id
        self.list.blockSignals(True)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(CONVERSATION_ROLE) == conversation_id and not self.searching:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
