"""Chat history in SQLite (sqlite-utils): conversations, messages, migrations.

Durability rules (see ARCHITECTURE.md): the user's message is written before generation starts;
an answer row is created as ``streaming`` when generation starts and updated as it grows, so a
crash of the app leaves a row that the next start marks ``interrupted`` instead of losing it.
WAL mode keeps each write cheap and the file consistent if the process dies mid-write.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from desktop.core.chat_records import (
    AT_LEAF,
    HIT_END,
    HIT_START,
    Conversation,
    ConversationTitle,
    StoredMessage,
    Versions,
)
from desktop.core.errors import InvalidParameter, NewerSchemaError, StoreError
from desktop.core.history_format import EXPORT_FORMAT, message_parts
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.core.parts import (
    Part,
    Parts,
    Reasoning,
    Text,
    Unknown,
    is_plain,
    part_to_json,
    parts_from_json,
    parts_to_json,
    reasoning_of,
    text_of,
)


def _import_sqlite_utils() -> ModuleType:
    """sqlite_utils, without its optional numpy support.

    sqlite-utils imports numpy when it is installed (llama-cpp-python installs it) only to store
    numpy values, which we never pass; that import alone is ~0.15 s of the window's start. Where
    numpy is not loaded yet, sqlite_utils is imported as if it were absent; numpy stays
    importable for everyone else.
    """
    if "numpy" in sys.modules or "sqlite_utils" in sys.modules:
        import sqlite_utils as module

        return module
    sys.modules["numpy"] = None  # type: ignore[assignment]  # makes `import numpy` fail
    try:
        import sqlite_utils as module

        return module
    finally:
        del sys.modules["numpy"]


__all__ = [
    "AT_LEAF",
    "HIT_END",
    "HIT_START",
    "MIGRATIONS",
    "ChatStore",
    "Conversation",
    "ConversationTitle",
    "StoredMessage",
    "Versions",
    "append_outbound",
]

if TYPE_CHECKING:
    import sqlite_utils
else:
    sqlite_utils = _import_sqlite_utils()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class _Executes(Protocol):
    def executescript(self, sql: str, /) -> object: ...


class _Script:
    """Collects a migration's SQL, so that it runs in one transaction with its record in
    _migrations: a migration that fails halfway (a full disk while building the search index)
    leaves the database as it was, not with half its columns added."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def executescript(self, sql: str, /) -> None:
        self.parts.append(sql)


def _m001_initial(db: _Executes) -> None:
    db.executescript(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            model TEXT,
            system_prompt TEXT NOT NULL DEFAULT '',
            params TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL,
            usage TEXT,
            error TEXT,
            created TEXT NOT NULL
        );
        CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
        CREATE INDEX conversations_by_updated ON conversations(updated);
        """
    )


def _m002_user_models(db: _Executes) -> None:
    db.executescript(
        """
        CREATE TABLE user_models (
            path TEXT PRIMARY KEY,
            added TEXT NOT NULL,
            last_error TEXT
        );
        """
    )


def _m003_downloads(db: _Executes) -> None:
    db.executescript(
        """
        CREATE TABLE downloads (
            local_path TEXT PRIMARY KEY,
            repo TEXT NOT NULL,
            path TEXT NOT NULL,
            url TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT,
            status TEXT NOT NULL,
            error TEXT,
            updated TEXT NOT NULL
        );
        """
    )


def _m004_privacy(db: _Executes) -> None:
    db.executescript(
        """
        ALTER TABLE conversations ADD COLUMN local_only INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE outbound (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            destination TEXT NOT NULL,
            host TEXT NOT NULL,
            purpose TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            -- Not a foreign key: the record outlives a deleted chat (it happened all the same).
            conversation_id INTEGER,
            bytes_sent INTEGER NOT NULL
        );
        """
    )


def _m005_comparisons(db: _Executes) -> None:
    db.executescript(
        """
        CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            created TEXT NOT NULL,
            title TEXT NOT NULL,
            kind TEXT NOT NULL,            -- compare, blind or batch
            models TEXT NOT NULL,          -- JSON list of model ids, in column order
            tag TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE comparison_answers (
            id INTEGER PRIMARY KEY,
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
            round INTEGER NOT NULL,        -- the n-th prompt of the comparison
            slot INTEGER NOT NULL,         -- the column
            model TEXT NOT NULL,
            prompt TEXT NOT NULL,
            content TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            usage TEXT,
            created TEXT NOT NULL
        );
        CREATE INDEX answers_by_comparison ON comparison_answers(comparison_id, round, slot);
        CREATE TABLE votes (
            id INTEGER PRIMARY KEY,
            -- The leaderboard keeps a vote when its comparison is deleted.
            comparison_id INTEGER REFERENCES comparisons(id) ON DELETE SET NULL,
            round INTEGER,
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            winner TEXT NOT NULL,          -- a, b, tie or bad
            flagged TEXT NOT NULL DEFAULT '',  -- why it stays out of the leaderboard, if it does
            tag TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL
        );
        """
    )


def _m006_history(db: _Executes) -> None:
    db.executescript(
        """
        ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
        -- Set when the user deletes a chat; cleared by Undo; such rows are purged later.
        ALTER TABLE conversations ADD COLUMN deleted TEXT;
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages;
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
        END;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END;
        """
    )


def _m007_versions(db: _Executes) -> None:
    # Messages form a tree: editing a question or regenerating an answer adds a sibling (a new
    # version) instead of overwriting; the conversation shows the branch ending at leaf_id.
    db.executescript(
        """
        ALTER TABLE messages ADD COLUMN parent_id INTEGER;
        ALTER TABLE conversations ADD COLUMN leaf_id INTEGER;
        UPDATE messages SET parent_id = (
            SELECT MAX(p.id) FROM messages p
            WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id
        );
        UPDATE conversations SET leaf_id = (
            SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = conversations.id
        );
        CREATE INDEX messages_by_parent ON messages(conversation_id, parent_id);
        """
    )


def _m008_model_errors(db: _Executes) -> None:
    # Failures were a column of user_models, so a file in the models folder (downloaded, or
    # dropped there by hand) that crashed the engine was never remembered, and was loaded
    # again at the next start. Any model file can fail: keep the reasons by path, apart.
    db.executescript(
        """
        CREATE TABLE model_errors (
            path TEXT PRIMARY KEY,
            error TEXT NOT NULL,
            at TEXT NOT NULL
        );
        INSERT INTO model_errors (path, error, at)
            SELECT path, last_error, added FROM user_models WHERE last_error IS NOT NULL;
        """
    )


def _m009_listing_index(db: _Executes) -> None:
    # The sidebar reads chats a page at a time in _listed's order. Without an index in that
    # order SQLite sorted every chat for each page: with 10,000 chats, 3 ms for the first page
    # and 15 ms for the last (the OFFSET walks the sort). Partial, like the query: deleted
    # chats awaiting undo are not listed.
    db.executescript(
        """
        CREATE INDEX conversations_listed ON conversations(pinned DESC, updated DESC, id DESC)
            WHERE deleted IS NULL;
        """
    )


#: Ordered and append-only: a migration, once released, never changes. Its position is its id.
def _m010_reasoning(db: _Executes) -> None:
    # What a model showed of its thinking (Claude's thinking blocks, <think> output of local
    # reasoning models), kept apart from the answer: shown collapsed, exported, never sent
    # back to a model as answer text.
    db.executescript("ALTER TABLE messages ADD COLUMN reasoning TEXT;")


def _m011_parts(db: _Executes) -> None:
    # A message is a list of typed parts (core.parts). NULL, nearly every row, means one text
    # part equal to content, so opening a long chat parses no JSON; content stays the text for
    # the search index. Reasoning moves into parts and its column is emptied: one place to read.
    db.executescript(
        """
        ALTER TABLE messages ADD COLUMN parts TEXT;
        UPDATE messages SET
            parts = json_array(
                json_object('type', 'reasoning', 'text', reasoning),
                json_object('type', 'text', 'text', content)
            ),
            reasoning = NULL
        WHERE reasoning IS NOT NULL AND reasoning != '';
        """
    )


MIGRATIONS: list[tuple[str, Callable[[_Executes], None]]] = [
    ("initial", _m001_initial),
    ("user_models", _m002_user_models),
    ("downloads", _m003_downloads),
    ("privacy", _m004_privacy),
    ("comparisons", _m005_comparisons),
    ("history", _m006_history),
    ("versions", _m007_versions),
    ("model_errors", _m008_model_errors),
    ("listing_index", _m009_listing_index),
    ("reasoning", _m010_reasoning),
    ("parts", _m011_parts),
]


def conversation_from_row(row: dict[str, Any]) -> Conversation:
    params = _params(row["params"])
    return Conversation(
        row["id"],
        row["title"],
        row["created"],
        row["updated"],
        row["model"],
        row["system_prompt"],
        params,
        bool(row["local_only"]),
        bool(row["pinned"]),
        preset=str(params.get("preset") or ""),
        sampling=_sampling(params),
        context_from=_int(params.get("context_from")),
        context_summary=str(params.get("context_summary") or ""),
    )


def _params(raw: str | None) -> dict[str, Any]:
    try:
        params = json.loads(raw or "{}")
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


_SAMPLING_KEYS = frozenset(SamplingParams.__dataclass_fields__)


def _sampling(params: dict[str, Any]) -> SamplingParams | None:
    if _SAMPLING_KEYS.isdisjoint(params):
        return None
    try:
        return SamplingParams.from_dict(params)
    except InvalidParameter:
        return None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _listed(limit: int | None = None, offset: int = 0) -> str:
    """The chats the sidebar lists, in its order (pinned first, then the most recently
    updated; deleted ones awaiting undo left out), or one page of them. The index
    conversations_listed (migration 9) is this filter and order: change them together."""
    page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
    return "WHERE deleted IS NULL ORDER BY pinned DESC, updated DESC, id DESC" + page


_ROLES = {role.value: role for role in Role}
_STATUSES = {status.value: status for status in MessageStatus}
#: The columns message_from_tuple reads, in its order (parent_id last).
_MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, model, status, usage, error, created, parts, parent_id"
)
#: How a stored parts value that cannot be read is shown (its raw text kept under "raw").
UNREADABLE = "unreadable"


def parts_from_column(raw: str | None, content: str) -> Parts:
    """A message's parts from its row: NULL is its text alone; a value this version cannot
    read becomes an Unknown part kept beside the text, so the row still opens and nothing
    written is lost."""
    if raw is None:
        return (Text(content),)
    try:
        return parts_from_json(raw)
    except (ValueError, RecursionError):
        return Unknown({"type": UNREADABLE, "raw": raw}), Text(content)


def parts_to_columns(parts: Parts) -> tuple[str, str | None]:
    """(content, parts) column values: the text, and the JSON unless it is the text alone."""
    return text_of(parts), None if is_plain(parts) else parts_to_json(parts)


def _with_text(parts: Parts, content: str | None, reasoning: str | None) -> Parts:
    """``parts`` with its text and/or reasoning replaced, other parts kept where they were."""
    result: list[Part] = list(parts)
    for kind, new in ((Reasoning, reasoning), (Text, content)):
        if new is None:
            continue
        at = next((i for i, p in enumerate(result) if isinstance(p, kind)), None)
        result = [p for p in result if not isinstance(p, kind)]
        if new or (kind is Text and not result):
            if at is None:
                at = 0 if kind is Reasoning else len(result)
            result.insert(min(at, len(result)), kind(new))
    return tuple(result)


def message_from_row(row: dict[str, Any]) -> StoredMessage:
    return StoredMessage(
        row["id"],
        row["conversation_id"],
        # Dict lookups, not Role(...): a 5,000-message chat makes 10,000 of these.
        _ROLES[row["role"]],
        row["content"],
        row["model"],
        _STATUSES[row["status"]],
        json.loads(row["usage"]) if row["usage"] else None,
        row["error"],
        row["created"],
        row.get("parent_id"),
        parts_from_column(row.get("parts"), row["content"]),
    )


def message_from_tuple(row: tuple[Any, ...]) -> StoredMessage:
    """A row of ``SELECT {_MESSAGE_COLUMNS}``."""
    usage = row[6]
    return StoredMessage(
        row[0],
        row[1],
        _ROLES[row[2]],
        row[3],
        row[4],
        _STATUSES[row[5]],
        json.loads(usage) if usage else None,
        row[7],
        row[8],
        row[10],
        parts_from_column(row[9], row[3]),
    )


_INSERT_OUTBOUND = (
    "INSERT INTO outbound (at, destination, host, purpose, model, conversation_id, bytes_sent) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _outbound_values(outbound: dict[str, Any]) -> list[Any]:
    return [
        outbound["at"],
        outbound["destination"],
        outbound["host"],
        outbound["purpose"],
        outbound.get("model", ""),
        outbound.get("conversation_id"),
        int(outbound.get("bytes_sent", 0)),
    ]


def append_outbound(database: Path, outbound: dict[str, Any]) -> None:
    """Add to the privacy record from any thread (its own short connection; the schema exists
    because a ChatStore opened the file first). Raises StoreError when it cannot be written."""
    try:
        connection = sqlite3.connect(database, timeout=5)
        try:
            with connection:
                connection.execute(_INSERT_OUTBOUND, _outbound_values(outbound))
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise StoreError(f"Could not add to the privacy record in {database}: {exc}") from exc


EXPORTED_MESSAGE_FIELDS = ("role", "content", "model", "status", "usage", "error", "created")


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc)
    return "file is not a database" in text or "malformed" in text


def _set_aside(path: Path) -> Path:
    """Move a corrupt database (and its WAL files) to ``<name>.corrupt-<time>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(target.with_name(target.name + suffix))
    return target


def _read_only_folder(folder: Path) -> bool:
    """A read-only mount, or a folder this user may not write (root may write anywhere, but not
    to a read-only file system)."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):  # no statvfs on Windows
        pass
    return not os.access(folder, os.W_OK)


class ChatStore:
    """The history database. One instance per process, used from the GUI thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Where an unreadable (corrupt) database was moved before a new one was started.
        self.corrupt_copy: Path | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open()
        except StoreError as exc:
            if not isinstance(exc.__cause__, sqlite3.DatabaseError) or not _is_corrupt(
                exc.__cause__
            ):
                raise
            # Keep the damaged file, untouched, for recovery tools; start a new history so
            # the app opens. A newer schema, a locked or read-only file never come here.
            self.corrupt_copy = _set_aside(path)
            self._open()
        self.recover_interrupted()

    def _open(self) -> None:
        path = self.path
        self.db = sqlite_utils.Database(path)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against an application crash in WAL mode, and much faster than
            # FULL; only a power cut can lose the last transaction.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if _read_only_folder(path.parent):
                raise StoreError(
                    f"Cannot open the history database {path}: its folder is read-only and "
                    f"Llamaside needs to write there. Nothing was changed."
                ) from exc
            raise StoreError(f"Cannot open the history database {path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction; SQLite's errors become sentences (a full disk is the usual one)."""
        try:
            with self.db.conn:
                yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "full" in text:
                raise StoreError(
                    f"The disk is full: Llamaside could not save to {self.path}. Free some "
                    f"space; what was saved before is intact."
                ) from exc
            if "readonly" in text or "read-only" in text:
                raise StoreError(f"The history database {self.path} is read-only.") from exc
            raise StoreError(f"Could not save to the history database {self.path}: {exc}") from exc

    # -- schema -------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        if "_migrations" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT MAX(id) FROM _migrations").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        if "_migrations" not in self.db.table_names():
            self.db.execute(
                "CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied TEXT NOT NULL)"
            )
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise NewerSchemaError(
                f"The history database {self.path} was written by a newer version of Llamaside "
                f"(schema {current}; this version knows up to {len(MIGRATIONS)}). "
                f"Update Llamaside to open it. The file was not changed."
            )
        if current == len(MIGRATIONS):
            return
        if current > 0:
            self._backup(f"before-v{len(MIGRATIONS)}")
        for number, (name, migration) in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            script = _Script()
            migration(script)
            record = (
                f"INSERT INTO _migrations (id, name, applied) "
                f"VALUES ({number}, '{name}', '{now_iso()}');"
            )
            try:
                # executescript commits anything pending first, then runs this as one
                # transaction of its own.
                self.db.conn.executescript(
                    "BEGIN;\n" + "\n".join(script.parts) + "\n" + record + "\nCOMMIT;"
                )
            except sqlite3.Error:
                if self.db.conn.in_transaction:
                    self.db.conn.execute("ROLLBACK")
                raise

    def _backup(self, label: str) -> Path:
        target = self.path.with_name(f"{self.path.name}.{label}.bak")
        dest = sqlite3.connect(target)
        try:
            self.db.conn.backup(dest)
        finally:
            dest.close()
        return target

    def recover_interrupted(self) -> int:
        """Answers still ``streaming`` belong to a run that died: mark them interrupted."""
        with self._writing():
            cursor = self.db.execute(
                "UPDATE messages SET status = ? WHERE status = ?",
                [MessageStatus.INTERRUPTED.value, MessageStatus.STREAMING.value],
            )
            if "comparison_answers" in self.db.table_names():
                self.db.execute(
                    "UPDATE comparison_answers SET status = ? WHERE status = ?",
                    [MessageStatus.INTERRUPTED.value, MessageStatus.STREAMING.value],
                )
        return int(cursor.rowcount)

    # -- conversations ------------------------------------------------------------------------

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
            for r in self.db.query("SELECT * FROM conversations " + _listed(limit, offset))
        ]

    def list_titles(self, limit: int | None = None, offset: int = 0) -> list[ConversationTitle]:
        """What the sidebar shows of list_conversations' chats, in its order: read without
        the rest of each row (parsing every chat's parameters was most of the time)."""
        return [
            ConversationTitle(int(row[0]), str(row[1]), str(row[2]), bool(row[3]))
            for row in self.db.execute(
                "SELECT id, title, updated, pinned FROM conversations " + _listed(limit, offset)
            )
        ]

    def conversation_ids(self) -> list[int]:
        """The ids of list_conversations, in its order, without reading the rest of each row."""
        return [int(row[0]) for row in self.db.execute("SELECT id FROM conversations " + _listed())]

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

    def search(self, query: str, limit: int = 50) -> list[dict[str, Any]]:
        """Messages matching every word of ``query`` (prefixes too), best first, with a snippet
        whose hits are wrapped in HIT_START / HIT_END."""
        words = [w.replace('"', '""') for w in query.replace("\x00", " ").split() if w.strip()]
        if not words:
            return []
        match = " ".join(f'"{w}"*' for w in words)
        return list(
            self.db.query(
                "SELECT m.id AS message_id, m.conversation_id, m.role, m.created, c.title, "
                f"snippet(messages_fts, 0, '{HIT_START}', '{HIT_END}', '…', 14) AS snippet "
                "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                "JOIN conversations c ON c.id = m.conversation_id "
                "WHERE messages_fts MATCH ? AND c.deleted IS NULL "
                "ORDER BY rank LIMIT ?",
                [match, limit],
            )
        )

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
                        k: v
                        for k, v in _params(row["params"]).items()
                        if k != "context_from"
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
                        "usage, error, created, parent_id, parts) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def _merge_params(self, conversation_id: int, values: dict[str, Any]) -> None:
        with self._writing():
            row = self.db.execute(
                "SELECT params FROM conversations WHERE id = ?", [conversation_id]
            ).fetchone()
            if row is None:
                raise StoreError(f"Conversation {conversation_id} does not exist.")
            self.db.execute(
                "UPDATE conversations SET params = ? WHERE id = ?",
                [json.dumps({**_params(row[0]), **values}), conversation_id],
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

    # -- messages -----------------------------------------------------------------------------

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
                "parent_id, parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    conversation_id,
                    role.value,
                    text,
                    model,
                    status.value,
                    stamp,
                    parent_id,
                    parts_json,
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
                    parts = _with_text(parts_from_column(row[0], row[1]), content, reasoning)
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
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?",
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
            current = rows.get(current[-1])
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
        self._update_conversation(message.conversation_id, leaf_id=leaf)

    # -- model files the user added -----------------------------------------------------------

    def add_user_model(self, path: str) -> None:
        with self._writing():
            self.db.execute(
                "INSERT OR IGNORE INTO user_models (path, added) VALUES (?, ?)", [path, now_iso()]
            )

    def user_models(self) -> list[str]:
        return [r["path"] for r in self.db.query("SELECT path FROM user_models ORDER BY added")]

    def set_model_error(self, path: str, error: str | None) -> None:
        """Remember why a model file failed to load or crashed the engine (None: it loaded
        fine). Any file: one the user added, or one in the models folder."""
        with self._writing():
            if error is None:
                self.db.execute("DELETE FROM model_errors WHERE path = ?", [path])
            else:
                self.db.execute(
                    "INSERT INTO model_errors (path, error, at) VALUES (?, ?, ?) "
                    "ON CONFLICT(path) DO UPDATE SET error = excluded.error, at = excluded.at",
                    [path, error, now_iso()],
                )

    def model_errors(self) -> dict[str, str]:
        """Why each model file that failed to load (or crashed the engine) failed, by path."""
        rows = self.db.query("SELECT path, error FROM model_errors")
        return {str(r["path"]): str(r["error"]) for r in rows}

    def forget_user_model(self, path: str) -> None:
        with self._writing():
            self.db.execute("DELETE FROM user_models WHERE path = ?", [path])

    # -- downloads ----------------------------------------------------------------------------

    def record_download(
        self,
        local_path: str,
        *,
        repo: str,
        path: str,
        url: str,
        size: int,
        sha256: str | None,
        status: str,
        error: str | None = None,
    ) -> None:
        """One file of a download; status is queued / partial / verified / failed."""
        with self._writing():
            self.db.execute(
                "INSERT INTO downloads (local_path, repo, path, url, size, sha256, status, "
                "error, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(local_path) DO UPDATE SET url = excluded.url, "
                "size = excluded.size, sha256 = excluded.sha256, status = excluded.status, "
                "error = excluded.error, updated = excluded.updated",
                [local_path, repo, path, url, size, sha256, status, error, now_iso()],
            )

    def downloads(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM downloads ORDER BY updated"))

    def download(self, local_path: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM downloads WHERE local_path = ?", [local_path]))
        return rows[0] if rows else None

    def forget_download(self, local_path: str) -> None:
        with self._writing():
            self.db.execute("DELETE FROM downloads WHERE local_path = ?", [local_path])

    # -- privacy record -----------------------------------------------------------------------

    def record_outbound(self, outbound: dict[str, Any]) -> None:
        """One request that left the machine (see backends.network.Outbound)."""
        with self._writing():
            self.db.execute(_INSERT_OUTBOUND, _outbound_values(outbound))

    def outbound(self) -> list[dict[str, Any]]:
        """The privacy record, oldest first, with each conversation's title (if it still exists)."""
        return list(
            self.db.query(
                "SELECT o.*, c.title AS conversation FROM outbound o "
                "LEFT JOIN conversations c ON c.id = o.conversation_id ORDER BY o.id"
            )
        )

    # -- comparisons --------------------------------------------------------------------------

    def create_comparison(self, title: str, kind: str, models: list[str], tag: str = "") -> int:
        with self._writing():
            cursor = self.db.execute(
                "INSERT INTO comparisons (created, title, kind, models, tag) "
                "VALUES (?, ?, ?, ?, ?)",
                [now_iso(), title, kind, json.dumps(models), tag],
            )
        return int(cursor.lastrowid or 0)

    def comparisons(self) -> list[dict[str, Any]]:
        rows = list(self.db.query("SELECT * FROM comparisons ORDER BY id DESC"))
        for row in rows:
            row["models"] = json.loads(row["models"])
        return rows

    def comparison(self, comparison_id: int) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM comparisons WHERE id = ?", [comparison_id]))
        if not rows:
            raise StoreError(f"Comparison {comparison_id} does not exist.")
        row = rows[0]
        row["models"] = json.loads(row["models"])
        return row

    def save_comparison_answer(
        self,
        comparison_id: int,
        *,
        round_index: int,
        slot: int,
        model: str,
        prompt: str,
        content: str,
        status: str,
        error: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> int:
        """Insert or update (same comparison, round and slot) one column's answer."""
        with self._writing():
            existing = self.db.execute(
                "SELECT id FROM comparison_answers WHERE comparison_id = ? AND round = ? "
                "AND slot = ?",
                [comparison_id, round_index, slot],
            ).fetchone()
            values = [model, prompt, content, status, error, json.dumps(usage) if usage else None]
            if existing:
                self.db.execute(
                    "UPDATE comparison_answers SET model = ?, prompt = ?, content = ?, "
                    "status = ?, error = ?, usage = ? WHERE id = ?",
                    [*values, existing[0]],
                )
                return int(existing[0])
            cursor = self.db.execute(
                "INSERT INTO comparison_answers (model, prompt, content, status, error, usage, "
                "comparison_id, round, slot, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*values, comparison_id, round_index, slot, now_iso()],
            )
        return int(cursor.lastrowid or 0)

    def comparison_answers(self, comparison_id: int) -> list[dict[str, Any]]:
        rows = list(
            self.db.query(
                "SELECT * FROM comparison_answers WHERE comparison_id = ? ORDER BY round, slot",
                [comparison_id],
            )
        )
        for row in rows:
            row["usage"] = json.loads(row["usage"]) if row["usage"] else None
        return rows

    def add_vote(
        self,
        *,
        model_a: str,
        model_b: str,
        winner: str,
        comparison_id: int | None = None,
        round_index: int | None = None,
        flagged: str = "",
        tag: str = "",
    ) -> int:
        with self._writing():
            cursor = self.db.execute(
                "INSERT INTO votes (comparison_id, round, model_a, model_b, winner, flagged, "
                "tag, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [comparison_id, round_index, model_a, model_b, winner, flagged, tag, now_iso()],
            )
        return int(cursor.lastrowid or 0)

    def votes(self, *, tag: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """Stored votes, oldest first; optionally one tag's, or those after an ISO time."""
        clauses, params = [], []
        if tag:
            clauses.append("tag = ?")
            params.append(tag)
        if since:
            clauses.append("created >= ?")
            params.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return list(self.db.query(f"SELECT * FROM votes {where} ORDER BY id", params))

    def vote_tags(self) -> list[str]:
        return [r["tag"] for r in self.db.query("SELECT DISTINCT tag FROM votes WHERE tag != ''")]
