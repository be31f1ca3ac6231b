"""The user's chats as a library: what the sidebar and the File menu do to whole chats.

The UI reaches the history database through here (and through the chat service for what
happens inside a chat), so that it imports neither storage nor its file formats.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path

from desktop.core.chat_records import (
    Conversation,
    ConversationTitle,
    SearchHit,
    StoredMessage,
    Versions,
)
from desktop.core.errors import LlamasideError
from desktop.core.history_format import parse_import, to_markdown
from desktop.core.tools import ToolChoice
from desktop.storage.image_export import add_images, restore_images
from desktop.storage.images import ImageStore
from desktop.storage.store import ChatStore


class LibraryError(LlamasideError):
    """An export or import that could not be done, said in a sentence for the user."""


class ChatLibrary:
    """Owns the chats as the window reads and changes them: the paged listing (pinned first,
    then the most recently updated) and search over every message; a chat's shown branch and
    its versions; creating, renaming, pinning, deleting with undo, duplicating; export to JSON
    (imports back exactly) or Markdown, and import of our JSON or ChatGPT's export. Sending,
    and the settings a chat is answered with, are the chat service's."""

    def __init__(self, store: ChatStore, images: ImageStore | None = None) -> None:
        self.store = store
        #: The picture folder: JSON exports carry the pictures, imports bring them back.
        self.images = images
        #: New chats are made local only (Preferences → Privacy sets it from its setting).
        self.lock_new_chats = False
        #: Gives a new chat (or an empty one reused as new) the defaults Preferences → Chat
        #: chose, such as a preset; None: nothing more than the lock.
        self.prepare_new_chat: Callable[[int], None] | None = None

    @property
    def path(self) -> Path:
        """The history database's file."""
        return self.store.path

    @property
    def corrupt_copy(self) -> Path | None:
        """Where a damaged history database was set aside at start (None: it was fine)."""
        return self.store.corrupt_copy

    def close(self) -> None:
        self.store.close()

    # -- one chat's messages ------------------------------------------------------------------

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """The branch on screen, first message first."""
        return self.store.messages(conversation_id)

    def message(self, message_id: int) -> StoredMessage:
        return self.store.get_message(message_id)

    def versions(self, conversation_id: int) -> dict[int, Versions]:
        """Where each message of the shown branch stands among its versions (those with one)."""
        return self.store.versions(conversation_id)

    def branch_ids(self, conversation_id: int) -> list[int]:
        """The ids of the shown branch's messages, without reading their text."""
        return self.store.branch_ids(conversation_id)

    def show_version(self, message_id: int) -> None:
        """The branch through this message (and its latest continuation) is shown from now on."""
        self.store.show_version(message_id)

    def delete_message(self, message_id: int) -> int:
        """A message and every message after it (in all their versions) gone for good; the
        chat then shows the message's newest other version, else ends before it. How many."""
        message = self.store.get_message(message_id)
        children: dict[int | None, list[int]] = {}
        for other in self.store.all_messages(message.conversation_id):
            children.setdefault(other.parent_id, []).append(other.id)
        doomed, waiting = [], [message_id]
        while waiting:
            doomed.append(waiting.pop())
            waiting.extend(children.get(doomed[-1], []))
        for gone in reversed(doomed):  # followers first: each has none when it goes
            self.store.delete_message(gone)
        others = [i for i in children.get(message.parent_id, []) if i != message_id]
        if others:
            self.store.show_version(max(others))
        return len(doomed)

    def is_empty(self, conversation_id: int) -> bool:
        return not self.store.branch_ids(conversation_id)

    # -- listing and search -------------------------------------------------------------------

    def titles(self, limit: int | None = None, offset: int = 0) -> list[ConversationTitle]:
        """One page of the listing, in the sidebar's order; deleted chats (awaiting Undo)
        left out."""
        return self.store.list_titles(limit=limit, offset=offset)

    def latest(self) -> Conversation | None:
        """The chat at the top of the listing, if any."""
        conversations = self.store.list_conversations(limit=1)
        return conversations[0] if conversations else None

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages matching every word of ``query``, best first: each hit's message, chat,
        role, time, chat title, and a snippet with its hits between HIT_START and HIT_END."""
        return self.store.search(query, limit)

    def conversation(self, conversation_id: int) -> Conversation:
        return self.store.get_conversation(conversation_id)

    def conversation_ids(self) -> list[int]:
        """Every listed chat's id, in the sidebar's order."""
        return self.store.conversation_ids()

    def is_listed(self, conversation_id: int) -> bool:
        """The chat exists and is not deleted (awaiting Undo)."""
        return self.store.is_listed(conversation_id)

    def is_pinned(self, conversation_id: int) -> bool:
        return self.store.get_conversation(conversation_id).pinned

    # -- changes to a chat as a whole ---------------------------------------------------------

    def create(self) -> Conversation:
        """A new, empty chat titled "New chat" (local only if ``lock_new_chats``)."""
        conversation = self.store.create_conversation()
        self._new_chat_defaults(conversation.id)
        return self.store.get_conversation(conversation.id)

    def _new_chat_defaults(self, conversation_id: int) -> None:
        if self.lock_new_chats:
            self.store.set_local_only(conversation_id, True)
        if self.prepare_new_chat is not None:
            self.prepare_new_chat(conversation_id)

    def set_model(self, conversation_id: int, model_id: str | None) -> None:
        """The chat's model (None: back to what a new chat starts with: the default model, the
        lock when new chats are locked, and Preferences' other new-chat defaults)."""
        self.store.set_conversation_model(conversation_id, model_id)
        if model_id is None:
            self._new_chat_defaults(conversation_id)

    def set_tools(self, conversation_id: int, servers: list[str]) -> None:
        """The tool servers this chat's answers may call (none: no tools)."""
        self.store.set_tools(conversation_id, servers)

    def set_tool_choice(self, conversation_id: int, choice: ToolChoice) -> None:
        self.store.set_tool_choice(conversation_id, choice)

    def rename(self, conversation_id: int, title: str) -> None:
        """A blank title becomes "Untitled"."""
        self.store.rename_conversation(conversation_id, title)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self.store.set_pinned(conversation_id, pinned)

    def duplicate(self, conversation_id: int) -> Conversation:
        """A copy with all its messages and versions, titled "… (copy)", not pinned."""
        return self.store.duplicate_conversation(conversation_id)

    def delete(self, conversation_id: int) -> Conversation:
        """Hidden from the listing and search until undo_delete; an earlier deletion whose
        Undo time is over goes for good first (one chat awaits Undo at a time). Returns the
        chat as it was, for the Undo bar's words."""
        current = self.store.get_conversation(conversation_id)
        self.store.purge_deleted()
        self.store.soft_delete(current.id)
        return current

    def undo_delete(self, conversation_id: int) -> None:
        self.store.restore(conversation_id)

    def purge_deleted(self) -> int:
        """Deleted chats gone for good (Undo is over); how many. Their pictures go too
        where no other message or comparison names them."""
        purged = self.store.purge_deleted()
        if purged:
            self.sweep_images()
        return purged

    def sweep_images(self) -> int:
        """Delete the pictures nothing names any more (older than a day: a younger one may
        be attached in a composer); how many went."""
        if self.images is None:
            return 0
        try:
            used = self.store.image_names_in_use()
        except sqlite3.ProgrammingError:  # the history closed first (the app is quitting)
            return 0
        return self.images.remove_unused(used)

    # -- export and import --------------------------------------------------------------------

    def export(
        self,
        path: Path,
        ids: list[int] | None = None,
        model_names: Mapping[str, str] | None = None,
    ) -> list[str]:
        """The chats ``ids`` (all listed chats: None) written to ``path``: our JSON when its
        name ends in .json (imports back exactly), Markdown otherwise, with models named by
        ``model_names`` (id -> name). Returns the titles of the chats written."""
        data = self.store.export_conversations(ids)
        try:
            if path.suffix.lower() == ".json":
                if self.images is not None:
                    add_images(data, self.images)
                path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
            else:
                path.write_text(to_markdown(data, dict(model_names or {})), encoding="utf-8")
        except OSError as exc:
            raise LibraryError(f"Could not write {path}: {exc.strerror or exc}") from exc
        return [str(chat["title"]) for chat in data["conversations"]]

    def import_file(self, path: Path) -> list[int]:
        """Our JSON export, or ChatGPT's conversations.json: all of it or nothing. Returns the
        new chats' ids, in the file's order. A file that is not an export raises
        ChatImportError (a LlamasideError) naming what is wrong; one that cannot be read or
        stored, LibraryError."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            data = parse_import(raw, path.name)
            if self.images is not None and isinstance(raw, dict):
                restore_images(raw, self.images)
            return self.store.import_conversations(data)
        except (OSError, ValueError, sqlite3.Error) as exc:
            raise LibraryError(f"Could not import {path.name}: {exc}") from exc
