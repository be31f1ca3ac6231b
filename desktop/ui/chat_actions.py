"""What the user does to a chat as a whole: rename, pin, duplicate, delete (with Undo), export,
and import chats from a file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction, QShowEvent
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QLineEdit, QWidget

from desktop.core.errors import LlamasideError
from desktop.services.chat import ChatService
from desktop.services.library import ChatLibrary
from desktop.ui.sidebar import Sidebar
from desktop.ui.widgets import ErrorBanner, UndoBar

#: The field's width in average characters: the least it has, and the most it grows to for a
#: long title (beyond it the field scrolls; the screen may allow less).
RENAME_LEAST_CHARS = 40
RENAME_MOST_CHARS = 90


class RenameDialog(QInputDialog):
    """The Rename question: a title field wide enough for the title, which opens with the
    whole title selected and its start in view (a long one scrolls)."""

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        edit = self.findChild(QLineEdit)
        if edit is not None:
            # Selected from the end back to the start: all of it, the cursor at its start.
            edit.setSelection(len(edit.text()), -len(edit.text()))


def rename_dialog(parent: QWidget, title: str) -> RenameDialog:
    """The Rename question, wide enough for the title (the stock one clipped a long title to
    its first words), the whole title selected so typing replaces it."""
    dialog = RenameDialog(parent)
    dialog.setObjectName("renameDialog")
    dialog.setWindowTitle("Rename chat")
    dialog.setLabelText("Title:")
    dialog.setInputMode(QInputDialog.InputMode.TextInput)
    dialog.setTextValue(title)
    edit = dialog.findChild(QLineEdit)
    if edit is not None:
        metrics = edit.fontMetrics()
        # The text's advance, the field's frame and margins, and a character to spare.
        wanted = metrics.horizontalAdvance(title) + 3 * metrics.averageCharWidth() + 16
        least = RENAME_LEAST_CHARS * metrics.averageCharWidth()
        most = RENAME_MOST_CHARS * metrics.averageCharWidth()
        width = max(least, min(wanted, most))
        screen = parent.screen() if parent is not None else None
        if screen is not None:  # the dialog's frame and margins fit too
            width = min(width, screen.availableGeometry().width() - 80)
        edit.setMinimumWidth(width)
    return dialog


class ChatActions(QObject):
    """Owns the chat-level commands of the Chat and File menus and of a sidebar row's menu:
    each acts on the chat it is given, or on the chat on screen (``conversation_id``, set by
    the window); and the Undo of the last deletion.

    Signals:
        open_requested(int): show this chat (a copy, an import, a chat whose deletion was undone).
        listing_changed(): the sidebar and the window's title are to be shown again.
        on_screen_deleted(): the chat on screen was deleted; another is to be shown.
        status(str, int): a passing line for the status bar, for so many ms.
    """

    open_requested = Signal(int)
    listing_changed = Signal()
    on_screen_deleted = Signal()
    status = Signal(str, int)

    def __init__(
        self,
        chat: ChatService,
        parent: QWidget,
        *,
        library: ChatLibrary,
        sidebar: Sidebar,
        banner: ErrorBanner,
        undo_bar: UndoBar,
        pin_action: QAction,
    ) -> None:
        super().__init__(parent)
        self.chat = chat
        self.library = library
        self.sidebar = sidebar
        self.banner = banner
        self.undo_bar = undo_bar
        self.pin_action = pin_action
        self._parent = parent  # the file dialogs and questions are the window's
        self.conversation_id: int | None = None
        #: Whether the chat deleted last was the one on screen (Undo brings it back there).
        self._deleted_on_screen = False
        undo_bar.undo_requested.connect(self._undo_delete)

    def _target(self, conversation_id: int | None) -> int | None:
        return conversation_id if conversation_id is not None else self.conversation_id

    def rename(self, conversation_id: int | None = None) -> None:
        """Rename a chat (``conversation_id``, or the one on screen)."""
        target = self._target(conversation_id)
        if target is None:
            return
        current = self.library.conversation(target)
        dialog = rename_dialog(self._parent, current.title)
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        title = dialog.textValue()
        dialog.deleteLater()
        if accepted and title.strip():
            self.library.rename(target, title)
            self.listing_changed.emit()  # the list and, for the chat on screen, the title

    @Slot(bool)
    def pin_on_screen(self, pinned: bool) -> None:
        if self.conversation_id is not None:
            self.set_pinned(self.conversation_id, pinned)

    def show_pinned(self, pinned: bool) -> None:
        """Chat → Pin to the top, checked as the chat on screen is."""
        self.pin_action.blockSignals(True)
        self.pin_action.setChecked(pinned)
        self.pin_action.blockSignals(False)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self.library.set_pinned(conversation_id, pinned)
        if conversation_id == self.conversation_id:
            self.show_pinned(pinned)
        self.listing_changed.emit()
        title = self.library.conversation(conversation_id).title
        self.status.emit(f"Pinned “{title}” to the top" if pinned else f"Unpinned “{title}”", 5000)

    def toggle_pinned(self, conversation_id: int) -> None:
        pinned = self.library.conversation(conversation_id).pinned
        self.set_pinned(conversation_id, not pinned)

    def duplicate(self, conversation_id: int | None = None) -> None:
        target = self._target(conversation_id)
        if target is None:
            return
        if self.chat.busy:
            self.banner.show_message("Stop the answer being generated before duplicating a chat.")
            return
        copy = self.library.duplicate(target)
        self.open_requested.emit(copy.id)
        self.status.emit(f"Duplicated as “{copy.title}”", 5000)

    def act_on_row(self, action: str, conversation_id: int) -> None:
        """An entry of a sidebar row's own menu (other than Open), on that row's chat."""
        if action == "rename":
            self.rename(conversation_id)
        elif action == "pin":
            self.toggle_pinned(conversation_id)
        elif action == "duplicate":
            self.duplicate(conversation_id)
        elif action == "export":
            self.export_chats(all_chats=False, conversation_id=conversation_id)
        elif action == "delete":
            self.delete(conversation_id)

    def delete(self, conversation_id: int | None = None) -> None:
        """Gone from the list at once, with Undo for a few seconds (no question asked). A
        chat other than the one on screen goes without changing what is shown."""
        target = self._target(conversation_id)
        if target is None:
            return
        on_screen = target == self.conversation_id
        if on_screen and self.chat.busy:
            self.banner.show_message("Stop the answer being generated before deleting this chat.")
            return
        current = self.library.delete(target)
        self.undo_bar.offer(current.id, f"Deleted “{current.title}”.")
        self._deleted_on_screen = on_screen
        if on_screen:
            self.on_screen_deleted.emit()
        else:
            self.listing_changed.emit()
        self.sidebar.refresh()  # search hits of the deleted chat go too

    @Slot(int)
    def _undo_delete(self, conversation_id: int) -> None:
        self.library.undo_delete(conversation_id)
        if self.chat.busy or not self._deleted_on_screen:
            # Back in the list; the chat on screen stays (an answer may be streaming in it).
            self.listing_changed.emit()
            return
        self.open_requested.emit(conversation_id)

    def export_chats(
        self, all_chats: bool, path: Path | None = None, conversation_id: int | None = None
    ) -> Path | None:
        """Markdown or JSON (by the file's extension); JSON imports back exactly. One chat:
        ``conversation_id``, or the one on screen."""
        target = self._target(conversation_id)
        if not all_chats and target is None:
            return None
        if path is None:
            title = "all-chats" if all_chats else "chat"
            chosen, _filter = QFileDialog.getSaveFileName(
                self._parent,
                "Export",
                f"{title}.md",
                "Markdown (*.md);;JSON, to import later (*.json)",
            )
            if not chosen:
                return None
            path = Path(chosen)
        ids = None if all_chats else [target or 0]
        names = {m.id: m.name for m in self.chat.all_models}
        try:
            chats = self.library.export(path, ids, names)
        except LlamasideError as exc:
            self.banner.show_message(str(exc))
            return None
        if all_chats:
            what = f"{len(chats):,} chat{'s' if len(chats) != 1 else ''}"
        else:
            what = f"“{chats[0]}”" if chats else "the chat"
        self.status.emit(f"Exported {what} to {path}", 10_000)
        return path

    def import_chats(self, path: Path | None = None) -> list[int]:
        """Our JSON export, or ChatGPT's conversations.json; all of it or nothing."""
        if path is None:
            chosen, _filter = QFileDialog.getOpenFileName(
                self._parent, "Import chats", "", "Chat exports (*.json);;All files (*)"
            )
            if not chosen:
                return []
            path = Path(chosen)
        try:
            ids = self.library.import_file(path)
        except LlamasideError as exc:
            self.banner.show_message(str(exc))
            return []
        if ids and not self.chat.busy:
            self.open_requested.emit(ids[0])
        else:
            self.listing_changed.emit()
        self.banner.show_message(f"Imported {len(ids)} chat(s) from {path.name}.")
        return ids
