"""The history database's schema, as an ordered list of migrations (simonw/llm's way): each a
function recorded by name and number in the _migrations table when it has run. Owns nothing at
run time; storage.database applies them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Executes(Protocol):
    """What a migration needs of the connection: running a script of SQL."""

    def executescript(self, sql: str, /) -> object: ...


class Script:
    """Collects a migration's SQL, so that it runs in one transaction with its record in
    _migrations: a migration that fails halfway (a full disk while building the search index)
    leaves the database as it was, not with half its columns added."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def executescript(self, sql: str, /) -> None:
        self.parts.append(sql)


def _m001_initial(db: Executes) -> None:
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


def _m002_user_models(db: Executes) -> None:
    db.executescript(
        """
        CREATE TABLE user_models (
            path TEXT PRIMARY KEY,
            added TEXT NOT NULL,
            last_error TEXT
        );
        """
    )


def _m003_downloads(db: Executes) -> None:
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


def _m004_privacy(db: Executes) -> None:
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


def _m005_comparisons(db: Executes) -> None:
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


def _m006_history(db: Executes) -> None:
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


def _m007_versions(db: Executes) -> None:
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


def _m008_model_errors(db: Executes) -> None:
    # Any model file can fail, not only an added one (user_models' column): keep the reasons
    # by path, apart, so a crashing file in the models folder is not loaded again at start.
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


def _m009_listing_index(db: Executes) -> None:
    # The sidebar reads chats a page at a time in _listed's order; without an index in that
    # order SQLite sorts every chat for each page. Partial, like the query: deleted chats
    # awaiting undo are not listed.
    db.executescript(
        """
        CREATE INDEX conversations_listed ON conversations(pinned DESC, updated DESC, id DESC)
            WHERE deleted IS NULL;
        """
    )


def _m010_reasoning(db: Executes) -> None:
    # What a model showed of its thinking (Claude's thinking blocks, <think> output of local
    # reasoning models), kept apart from the answer: shown collapsed, exported, never sent
    # back to a model as answer text.
    db.executescript("ALTER TABLE messages ADD COLUMN reasoning TEXT;")


def _m011_parts(db: Executes) -> None:
    """A message is a list of typed parts (core.parts): NULL means one text part equal to
    content (nearly every row), content stays the text for the search index, and reasoning
    moves into parts."""
    # Emptied once moved, so parts is the one place reasoning is read from.
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


def _m012_comparison_parts(db: Executes) -> None:
    # A column's answer may hold tool calls besides its words (a comparison offers tools and
    # keeps the calls, unrun): its parts as messages keep them, NULL for the text alone.
    db.executescript("ALTER TABLE comparison_answers ADD COLUMN parts TEXT;")


def _m013_outbound_images(db: Executes) -> None:
    # Pictures sent to a provider: the privacy record says how many and how large, apart from
    # the body's bytes (their base64 in it is a third larger than the pictures).
    db.executescript(
        """
        ALTER TABLE outbound ADD COLUMN images INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE outbound ADD COLUMN image_bytes INTEGER NOT NULL DEFAULT 0;
        """
    )


def _m014_model_projectors(db: Executes) -> None:
    # The vision projector the user chose for a model file (Open GGUF with its mmproj, or the
    # model manager's menu), by the model's path: any file, added or in the models folder.
    # An empty mmproj is a choice too: no projector, even with one beside the model.
    db.executescript(
        """
        CREATE TABLE model_projectors (
            path TEXT PRIMARY KEY,
            mmproj TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        """
    )


def _m015_comparison_prompt_parts(db: Executes) -> None:
    # A comparison's prompt may carry pictures: the round's question as parts (its Image parts
    # and its text), kept on each column's row of the round like its prompt; NULL for text alone.
    db.executescript("ALTER TABLE comparison_answers ADD COLUMN prompt_parts TEXT;")


def _m016_message_adapters(db: Executes) -> None:
    # The LoRA adapters an answer was written with, and their scales (core.adapters, as JSON);
    # NULL for the bare model, as every answer before them.
    db.executescript("ALTER TABLE messages ADD COLUMN adapters TEXT;")


def _m017_comparison_adapters(db: Executes) -> None:
    # A comparison column's LoRA adapters (core.adapters, as JSON): the comparison keeps each
    # column's (a list per column), each answer the ones it was written with, a vote those of
    # either side (a fine-tune is its own contestant). NULL for the bare model, as before.
    db.executescript(
        """
        ALTER TABLE comparisons ADD COLUMN adapters TEXT;
        ALTER TABLE comparison_answers ADD COLUMN adapters TEXT;
        ALTER TABLE votes ADD COLUMN adapters_a TEXT;
        ALTER TABLE votes ADD COLUMN adapters_b TEXT;
        """
    )


#: Ordered and append-only: a migration, once released, never changes. Its position is its id.
MIGRATIONS: list[tuple[str, Callable[[Executes], None]]] = [
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
    ("comparison_parts", _m012_comparison_parts),
    ("outbound_images", _m013_outbound_images),
    ("model_projectors", _m014_model_projectors),
    ("comparison_prompt_parts", _m015_comparison_prompt_parts),
    ("message_adapters", _m016_message_adapters),
    ("comparison_adapters", _m017_comparison_adapters),
]
