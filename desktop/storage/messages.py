"""Messages: a conversation's tree of versions (each message names its parent; the branch on
screen ends at the conversation's leaf), each message its parts."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from desktop.core.adapters import Adapter, adapters_to_json
from desktop.core.chat_records import AT_LEAF, StoredMessage, Versions
from desktop.core.errors import StoreError
from desktop.core.messages import MessageStatus, Role
from desktop.core.parts import Parts, Text
from desktop.storage.database import Database, now_iso
from desktop.storage.rows import (
    MESSAGE_COLUMNS,
    PARENT,
    message_from_row,
    message_from_tuple,
    parts_from_column,
    parts_to_columns,
    with_text,
)


class Messages(Database):
    """Owns the messages table: adding a message or a new version, updating an answer as it
    is written, reading the branch on screen or every version, and choosing which version is
    shown (the conversation's leaf)."""

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str = "",
        model: str | None = None,
        status: MessageStatus = MessageStatus.COMPLETE,
        *,
        parent_id: int | None = AT_LEAF,
        parts: Parts | None = None,
        adapters: Sequence[Adapter] = (),
    ) -> StoredMessage:
        """Append to the branch on screen, or (``parent_id``) start a new version of the
        messages that follow that parent. The new message becomes the end of the branch.
        ``parts``, when given, is the message (``content`` is then their text)."""
        text, parts_json = parts_to_columns(parts if parts is not None else (Text(content),))
        stamp = now_iso()
        with self._writing():
            if parent_id == AT_LEAF:
                row = self.db.execute(
                    "SELECT leaf_id FROM conversations WHERE id = ?", [conversation_id]
                ).fetchone()
                parent_id = row[0] if row else None
            cursor = self.db.execute(
                "INSERT INTO messages (conversation_id, role, content, model, status, created, "
                "parent_id, parts, adapters) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    conversation_id,
                    role.value,
                    text,
                    model,
                    status.value,
                    stamp,
                    parent_id,
                    parts_json,
                    json.dumps(adapters_to_json(adapters)) if adapters else None,
                ],
            )
            message_id = int(cursor.lastrowid or 0)
            self.db.execute(
                "UPDATE conversations SET updated = ?, leaf_id = ? WHERE id = ?",
                [stamp, message_id, conversation_id],
            )
        return self.get_message(message_id)

    def get_message(self, message_id: int) -> StoredMessage:
        rows = list(self.db.query("SELECT * FROM messages WHERE id = ?", [message_id]))
        if not rows:
            raise StoreError(f"Message {message_id} does not exist.")
        return message_from_row(rows[0])

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: MessageStatus | None = None,
        usage: dict[str, Any] | None = None,
        error: str | None = None,
        reasoning: str | None = None,
        parts: Parts | None = None,
    ) -> None:
        """Change what is given. ``parts`` replaces the whole message; ``content`` or
        ``reasoning`` alone replace that part of it and keep the others."""
        values: dict[str, Any] = {}
        with self._writing():
            if parts is None and (content is not None or reasoning is not None):
                row = self.db.execute(
                    "SELECT parts, content FROM messages WHERE id = ?", [message_id]
                ).fetchone()
                if row is not None:
                    parts = with_text(parts_from_column(row[0], row[1]), content, reasoning)
            if parts is not None:
                values["content"], values["parts"] = parts_to_columns(parts)
            if status is not None:
                values["status"] = status.value
            if usage is not None:
                values["usage"] = json.dumps(usage)
            if error is not None:
                values["error"] = error
            if not values:
                return
            assignments = ", ".join(f"{k} = ?" for k in values)
            self.db.execute(
                f"UPDATE messages SET {assignments} WHERE id = ?", [*values.values(), message_id]
            )

    def delete_message(self, message_id: int) -> None:
        """Remove a message that has no followers (an unsent turn taken back); the branch on
        screen then ends at its parent."""
        message = self.get_message(message_id)
        with self._writing():
            self.db.execute("DELETE FROM messages WHERE id = ?", [message_id])
            self.db.execute(
                "UPDATE conversations SET leaf_id = ? WHERE id = ? AND leaf_id = ?",
                [message.parent_id, message.conversation_id, message_id],
            )

    def _all(self, conversation_id: int) -> list[StoredMessage]:
        return [
            message_from_row(r)
            for r in self.db.query(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", [conversation_id]
            )
        ]

    def _tree(self, conversation_id: int) -> list[tuple[int, int | None]]:
        """(id, parent id) of every message, oldest first: the shape of the conversation
        without its text, cheap to read for a chat of thousands of messages."""
        return [
            (int(row[0]), row[1])
            for row in self.db.execute(
                "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id",
                [conversation_id],
            )
        ]

    def branch_ids(self, conversation_id: int) -> list[int]:
        """Ids of the branch on screen, first message first (messages() without the text)."""
        row = self.db.execute(
            "SELECT leaf_id FROM conversations WHERE id = ?", [conversation_id]
        ).fetchone()
        parents = dict(self._tree(conversation_id))
        path: list[int] = []
        current = row[0] if row else None
        # Bounded by the number of messages: a (corrupt) cycle cannot hang the window.
        while current is not None and current in parents and len(path) < len(parents):
            path.append(current)
            current = parents[current]
        path.reverse()
        return path

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """The branch on screen, first message first (every version: all_messages)."""
        # One indexed scan as plain tuples, the walk from the leaf over them, and only the
        # branch's rows made into messages: for a 5,000-message chat this is what opening
        # it costs, so no dict per row and no second query.
        rows = {
            row[0]: row
            for row in self.db.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?",
                [conversation_id],
            )
        }
        leaf = self.db.execute(
            "SELECT leaf_id FROM conversations WHERE id = ?", [conversation_id]
        ).fetchone()
        path: list[StoredMessage] = []
        current = rows.get(leaf[0]) if leaf else None
        # Bounded by the number of messages: a (corrupt) cycle cannot hang the window.
        while current is not None and len(path) < len(rows):
            path.append(message_from_tuple(current))
            current = rows.get(current[PARENT])
        path.reverse()
        return path

    def all_messages(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of every branch, oldest first."""
        return self._all(conversation_id)

    def versions(self, conversation_id: int) -> dict[int, Versions]:
        """For each message that has other versions: its place among them."""
        siblings: dict[int | None, list[int]] = {}
        for message_id, parent_id in self._tree(conversation_id):
            siblings.setdefault(parent_id, []).append(message_id)
        result = {}
        for ids in siblings.values():
            if len(ids) < 2:
                continue
            for i, message_id in enumerate(ids):
                result[message_id] = Versions(
                    i + 1,
                    len(ids),
                    ids[i - 1] if i > 0 else None,
                    ids[i + 1] if i + 1 < len(ids) else None,
                )
        return result

    def show_version(self, message_id: int) -> None:
        """Make the branch through this message the one on screen, down to its newest end."""
        message = self.get_message(message_id)
        children: dict[int | None, list[int]] = {}
        for other_id, parent_id in self._tree(message.conversation_id):
            children.setdefault(parent_id, []).append(other_id)
        leaf = message_id
        while children.get(leaf):
            leaf = max(children[leaf])
        with self._writing():
            self.db.execute(
                "UPDATE conversations SET leaf_id = ? WHERE id = ?", [leaf, message.conversation_id]
            )

    def image_names_in_use(self) -> set[str]:
        """Every stored picture some message or comparison names (what the image sweep keeps).
        Read from every parts column, so a table that later holds pictures is covered."""
        used: set[str] = set()
        for table, column in _PARTS_COLUMNS:
            if not self._has_column(table, column):
                continue
            for (text,) in self.db.execute(
                f"SELECT {column} FROM {table} WHERE {column} LIKE '%\"image\"%'"
            ):
                used.update(_IMAGE_NAME.findall(text or ""))
        return used

    def _has_column(self, table: str, column: str) -> bool:
        return any(row[1] == column for row in self.db.execute(f"PRAGMA table_info({table})"))


#: (table, column) pairs whose JSON may name stored pictures.
_PARTS_COLUMNS = (
    ("messages", "parts"),
    ("comparison_answers", "parts"),
    ("comparison_answers", "prompt_parts"),
    ("comparisons", "parts"),
)
_IMAGE_NAME = re.compile(r"[0-9a-f]{64}\.(?:png|jpg)")
