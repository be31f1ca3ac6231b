"""Conversations: their rows and settings, the sidebar's listing, search, and our export and
import format (every message of every chat, versions kept)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from desktop.core.adapters import Adapter, adapters_from_json, adapters_to_json
from desktop.core.chat_records import (
    HIT_END,
    HIT_START,
    Conversation,
    ConversationTitle,
    SearchHit,
)
from desktop.core.errors import StoreError
from desktop.core.history_format import EXPORT_FORMAT, message_parts
from desktop.core.messages import MessageStatus
from desktop.core.params import SamplingParams
from desktop.core.parts import part_to_json, reasoning_of
from desktop.core.tools import ToolChoice
from desktop.storage.database import Database, now_iso
from desktop.storage.rows import (
    conversation_from_row,
    listed,
    params_of,
    parts_from_column,
    parts_to_columns,
)

EXPORTED_MESSAGE_FIELDS = ("role", "content", "model", "status", "usage", "error", "created")


class Conversations(Database):
    """Owns the conversations table (title, model, system prompt, preset, sampling, context,
    pin, deletion with undo), the search index's queries, and export and import of whole
    chats with their messages."""

    def create_conversation(
        self,
        title: str = "New chat",
        model: str | None = None,
        system_prompt: str = "",
        params: dict[str, Any] | None = None,
    ) -> Conversation:
        stamp = now_iso()
        with self._writing():
            cursor = self.db.execute(
                "INSERT INTO conversations (title, created, updated, model, system_prompt, "
                "params) VALUES (?, ?, ?, ?, ?, ?)",
                [title, stamp, stamp, model, system_prompt, json.dumps(params or {})],
            )
        return self.get_conversation(int(cursor.lastrowid or 0))

    def get_conversation(self, conversation_id: int) -> Conversation:
        rows = list(self.db.query("SELECT * FROM conversations WHERE id = ?", [conversation_id]))
        if not rows:
            raise StoreError(f"Conversation {conversation_id} does not exist.")
        return conversation_from_row(rows[0])

    def list_conversations(self, limit: int | None = None, offset: int = 0) -> list[Conversation]:
        """Pinned first, then the most recently updated; deleted ones (awaiting undo) left out.
        ``limit`` and ``offset``: one page of that order (the sidebar loads 10,000 chats a page
        at a time, as the list is scrolled)."""
        return [
            conversation_from_row(r)
            for r in self.db.query("SELECT * FROM conversations " + listed(limit, offset))
        ]

    def list_titles(self, limit: int | None = None, offset: int = 0) -> list[ConversationTitle]:
        """What the sidebar shows of list_conversations' chats, in its order: read without
        the rest of each row (parsing every chat's parameters would be most of the time)."""
        return [
            ConversationTitle(int(row[0]), str(row[1]), str(row[2]), bool(row[3]))
            for row in self.db.execute(
                "SELECT id, title, updated, pinned FROM conversations " + listed(limit, offset)
            )
        ]

    def conversation_ids(self) -> list[int]:
        """The ids of list_conversations, in its order, without reading the rest of each row."""
        return [int(row[0]) for row in self.db.execute("SELECT id FROM conversations " + listed())]

    def is_listed(self, conversation_id: int) -> bool:
        """The chat exists and is not deleted (awaiting undo)."""
        row = self.db.execute(
            "SELECT 1 FROM conversations WHERE id = ? AND deleted IS NULL", [conversation_id]
        ).fetchone()
        return row is not None

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._update_conversation(conversation_id, pinned=int(pinned))

    def soft_delete(self, conversation_id: int) -> None:
        """Hide a chat until Undo (restore) or purge_deleted removes it for good."""
        self._update_conversation(conversation_id, deleted=now_iso())

    def restore(self, conversation_id: int) -> None:
        self._update_conversation(conversation_id, deleted=None)

    def purge_deleted(self) -> int:
        with self._writing():
            cursor = self.db.execute("DELETE FROM conversations WHERE deleted IS NOT NULL")
        return int(cursor.rowcount)

    def duplicate_conversation(self, conversation_id: int) -> Conversation:
        """A copy with all its messages, to branch off without touching the original."""
        source = self.get_conversation(conversation_id)
        data = self.export_conversations([conversation_id])
        data["conversations"][0]["title"] = f"{source.title} (copy)"
        data["conversations"][0]["pinned"] = False
        [new_id] = self.import_conversations(data)
        return self.get_conversation(new_id)

    # -- search -------------------------------------------------------------------------------

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages matching every word of ``query`` (prefixes too), best first, with a snippet
        whose hits are wrapped in HIT_START / HIT_END."""
        words = [w.replace('"', '""') for w in query.replace("\x00", " ").split() if w.strip()]
        if not words:
            return []
        match = " ".join(f'"{w}"*' for w in words)
        return [
            SearchHit(int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]))
            for row in self.db.execute(
                "SELECT m.id, m.conversation_id, m.role, m.created, c.title, "
                f"snippet(messages_fts, 0, '{HIT_START}', '{HIT_END}', '…', 14) "
                "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                "JOIN conversations c ON c.id = m.conversation_id "
                "WHERE messages_fts MATCH ? AND c.deleted IS NULL "
                "ORDER BY rank LIMIT ?",
                [match, limit],
            )
        ]

    # -- export and import --------------------------------------------------------------------

    def export_conversations(self, ids: list[int] | None = None) -> dict[str, Any]:
        """Our JSON format: everything needed to import the chats back exactly."""
        chosen = ids if ids is not None else [c.id for c in self.list_conversations()]
        conversations = []
        for conversation_id in chosen:
            row = next(
                iter(self.db.query("SELECT * FROM conversations WHERE id = ?", [conversation_id]))
            )
            rows = list(
                self.db.query(
                    "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id",
                    [conversation_id],
                )
            )
            # Versions are kept: each message names its parent by position in the list.
            position = {r["id"]: i for i, r in enumerate(rows)}
            messages = []
            for r in rows:
                message = {k: r[k] for k in EXPORTED_MESSAGE_FIELDS}
                message["usage"] = json.loads(r["usage"]) if r["usage"] else None
                message["parent"] = position.get(r["parent_id"])
                parts = parts_from_column(r["parts"], r["content"])
                if reasoning_of(parts):
                    message["reasoning"] = reasoning_of(parts)
                message["parts"] = [part_to_json(p) for p in parts]
                if r.get("adapters"):  # the LoRA adapters the answer was written with
                    message["adapters"] = json.loads(r["adapters"])
                messages.append(message)
            conversations.append(
                {
                    "title": row["title"],
                    "created": row["created"],
                    "updated": row["updated"],
                    "model": row["model"],
                    "system_prompt": row["system_prompt"],
                    # "context_from" is a message id of this database: meaningless elsewhere.
                    "params": {
                        k: v for k, v in params_of(row["params"]).items() if k != "context_from"
                    },
                    "local_only": bool(row["local_only"]),
                    "pinned": bool(row["pinned"]),
                    "leaf": position.get(row["leaf_id"]),
                    "messages": messages,
                }
            )
        return {"format": EXPORT_FORMAT, "version": 1, "conversations": conversations}

    def import_conversations(self, data: dict[str, Any]) -> list[int]:
        """Chats from export_conversations' format (validated by the caller), in one
        transaction: all of them or none."""
        ids = []
        with self._writing():
            for item in data["conversations"]:
                cursor = self.db.execute(
                    "INSERT INTO conversations (title, created, updated, model, system_prompt, "
                    "params, local_only, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        item["title"],
                        item["created"],
                        item["updated"],
                        item.get("model"),
                        item.get("system_prompt", ""),
                        json.dumps(item.get("params") or {}),
                        int(bool(item.get("local_only"))),
                        int(bool(item.get("pinned"))),
                    ],
                )
                conversation_id = int(cursor.lastrowid or 0)
                new_ids: list[int] = []
                for index, message in enumerate(item["messages"]):
                    usage = message.get("usage")
                    # Without "parent" (ChatGPT's, or older files) the chat is one line.
                    parent = message.get("parent", index - 1 if index else None)
                    parent_id = (
                        new_ids[parent] if isinstance(parent, int) and 0 <= parent < index else None
                    )
                    text, parts_json = parts_to_columns(message_parts(message))
                    cursor = self.db.execute(
                        "INSERT INTO messages (conversation_id, role, content, model, status, "
                        "usage, error, created, parent_id, parts, adapters) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            conversation_id,
                            message["role"],
                            text,
                            message.get("model"),
                            message.get("status", MessageStatus.COMPLETE.value),
                            json.dumps(usage) if usage else None,
                            message.get("error"),
                            message["created"],
                            parent_id,
                            parts_json,
                            _adapters_column(message.get("adapters")),
                        ],
                    )
                    new_ids.append(int(cursor.lastrowid or 0))
                leaf = item.get("leaf", len(new_ids) - 1)
                if isinstance(leaf, int) and 0 <= leaf < len(new_ids):
                    self.db.execute(
                        "UPDATE conversations SET leaf_id = ? WHERE id = ?",
                        [new_ids[leaf], conversation_id],
                    )
                ids.append(conversation_id)
        return ids

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self._update_conversation(conversation_id, title=title.strip() or "Untitled")

    def set_conversation_model(
        self, conversation_id: int, model: str | None, params: dict[str, Any] | None = None
    ) -> None:
        """The model (and the sampling parameters) the conversation's latest answer used."""
        if params is None:
            self._update_conversation(conversation_id, model=model)
        else:
            self._update_conversation(conversation_id, model=model, params=json.dumps(params))

    def set_sampling(
        self, conversation_id: int, sampling: SamplingParams, *, preset: str | None = None
    ) -> None:
        """The sampling the chat's answers use (and, given, the preset it came from); the
        chat's other settings are kept."""
        values: dict[str, Any] = sampling.to_dict()
        if preset is not None:
            values["preset"] = preset
        self._merge_params(conversation_id, values)

    def set_context(
        self, conversation_id: int, context_from: int, summary: str | None = None
    ) -> None:
        """Stop sending the messages before ``context_from``; ``summary`` (given) is what
        they said, sent in their place."""
        values: dict[str, Any] = {"context_from": context_from}
        if summary is not None:
            values["context_summary"] = summary
        self._merge_params(conversation_id, values)

    def set_tools(self, conversation_id: int, servers: list[str]) -> None:
        """The tool servers whose tools this chat's answers may call (none: no tools)."""
        self._merge_params(conversation_id, {"tools": list(dict.fromkeys(servers))})

    def set_tool_choice(self, conversation_id: int, choice: ToolChoice) -> None:
        """When the chat's model is to call a tool (it decides, always, or a named one)."""
        self._merge_params(conversation_id, {"tool_choice": choice.to_dict()})

    def set_adapters(self, conversation_id: int, adapters: Sequence[Adapter]) -> None:
        """The LoRA adapters (and scales) the chat's local model answers with from now on."""
        self._merge_params(conversation_id, {"adapters": adapters_to_json(adapters)})

    def _merge_params(self, conversation_id: int, values: dict[str, Any]) -> None:
        with self._writing():
            row = self.db.execute(
                "SELECT params FROM conversations WHERE id = ?", [conversation_id]
            ).fetchone()
            if row is None:
                raise StoreError(f"Conversation {conversation_id} does not exist.")
            self.db.execute(
                "UPDATE conversations SET params = ? WHERE id = ?",
                [json.dumps({**params_of(row[0]), **values}), conversation_id],
            )

    def set_system_prompt(self, conversation_id: int, system_prompt: str) -> None:
        self._update_conversation(conversation_id, system_prompt=system_prompt)

    def set_local_only(self, conversation_id: int, local_only: bool) -> None:
        self._update_conversation(conversation_id, local_only=int(local_only))

    def _update_conversation(self, conversation_id: int, **values: Any) -> None:
        assignments = ", ".join(f"{k} = ?" for k in values)
        with self._writing():
            self.db.execute(
                f"UPDATE conversations SET {assignments} WHERE id = ?",
                [*values.values(), conversation_id],
            )

    def touch(self, conversation_id: int) -> None:
        with self._writing():
            self.db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", [now_iso(), conversation_id]
            )

    def delete_conversation(self, conversation_id: int) -> None:
        with self._writing():
            self.db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])


def _adapters_column(data: Any) -> str | None:
    """An imported answer's adapters as stored; a list this version cannot read refuses the
    file (InvalidParameter says which), like any other malformed message."""
    adapters = adapters_from_json(data)
    return json.dumps(adapters_to_json(adapters)) if adapters else None
