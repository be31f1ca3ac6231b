"""The history database on real SQLite files."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from desktop.core.errors import NewerSchemaError, StoreError
from desktop.core.messages import MessageStatus, Role
from desktop.storage.migrations import MIGRATIONS
from desktop.storage.rows import listed
from desktop.storage.store import ChatStore


def test_migrations_from_empty_are_recorded(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    assert store.schema_version == len(MIGRATIONS)
    rows = store.db.execute("SELECT id, name FROM _migrations ORDER BY id").fetchall()
    assert [r[1] for r in rows] == [name for name, _ in MIGRATIONS]
    assert {"conversations", "messages", "user_models"} <= set(store.db.table_names())
    store.close()


def test_the_sidebar_pages_through_chats_in_index_order(tmp_path: Path) -> None:
    """Each page of the sidebar is read along the listing index, never by sorting all chats
    (with 10,000 chats that sort cost 3-15 ms a page), and the pages cover every listed chat
    once, in the listing's order."""
    store = ChatStore(tmp_path / "h.db")
    try:
        ids = [store.create_conversation(title=f"chat {i}").id for i in range(25)]
        store.set_pinned(ids[3], True)
        store.soft_delete(ids[7])
        plan = " ".join(
            str(row[-1])
            for row in store.db.execute(
                "EXPLAIN QUERY PLAN SELECT id, title, updated, pinned FROM conversations "
                + listed(10, 10)
            ).fetchall()
        )
        assert "USING INDEX conversations_listed" in plan and "TEMP B-TREE" not in plan, plan
        paged = [t.id for offset in (0, 10, 20) for t in store.list_titles(10, offset)]
        assert paged == store.conversation_ids() == [c.id for c in store.list_conversations()]
        assert paged[0] == ids[3] and ids[7] not in paged and len(paged) == 24
    finally:
        store.close()


def test_wal_mode(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = ChatStore(path)
    conv = store.create_conversation(title="Trip", model="local:x", system_prompt="Be brief.")
    store.add_message(conv.id, Role.USER, "Hi ü 🦙")
    answer = store.add_message(
        conv.id, Role.ASSISTANT, "", model="local:x", status=MessageStatus.STREAMING
    )
    store.update_message(
        answer.id, content="Hello", status=MessageStatus.COMPLETE, usage={"output_tokens": 2}
    )
    store.close()

    again = ChatStore(path)
    [loaded] = again.list_conversations()
    assert (loaded.title, loaded.model, loaded.system_prompt) == ("Trip", "local:x", "Be brief.")
    messages = again.messages(conv.id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        (Role.USER, "Hi ü 🦙", MessageStatus.COMPLETE),
        (Role.ASSISTANT, "Hello", MessageStatus.COMPLETE),
    ]
    assert messages[1].usage == {"output_tokens": 2}
    assert again.schema_version == len(MIGRATIONS)
    again.close()


def test_streaming_answers_become_interrupted_on_next_open(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = ChatStore(path)
    conv = store.create_conversation()
    store.add_message(conv.id, Role.USER, "question")
    answer = store.add_message(conv.id, Role.ASSISTANT, "", status=MessageStatus.STREAMING)
    store.update_message(answer.id, content="partial ans")
    store.db.conn.close()  # the app "dies": no clean close

    again = ChatStore(path)
    message = again.get_message(answer.id)
    assert message.status == MessageStatus.INTERRUPTED
    assert message.content == "partial ans"
    assert again.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again.close()


def test_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    ChatStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _migrations (id, name, applied) VALUES (99, 'future', 'x')")
    conn.commit()
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(NewerSchemaError) as info:
        ChatStore(path)
    assert "newer version of Llamaside" in str(info.value)
    assert "schema 99" in str(info.value)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_upgrade_backs_up_first(tmp_path: Path) -> None:
    """A database at schema 1 is copied aside before the later migrations run."""
    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied TEXT NOT NULL)"
    )
    conn.commit()
    conn.close()
    import sqlite_utils

    db = sqlite_utils.Database(path)
    MIGRATIONS[0][1](db)
    db.execute("INSERT INTO _migrations VALUES (1, 'initial', 'x')")
    db.execute("INSERT INTO conversations (title, created, updated) VALUES ('old', 'a', 'a')")
    db.conn.commit()
    db.close()

    store = ChatStore(path)
    assert store.schema_version == len(MIGRATIONS)
    assert [c.title for c in store.list_conversations()] == ["old"]
    backups = list(tmp_path.glob("h.db.before-v*.bak"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("SELECT MAX(id) FROM _migrations").fetchone()[0] == 1
    old.close()
    store.close()


def test_not_a_database_is_kept_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(b"this is not sqlite" * 100)
    store = ChatStore(path)
    try:
        assert store.corrupt_copy is not None
        assert store.corrupt_copy.read_bytes() == b"this is not sqlite" * 100
        assert store.list_conversations() == []
    finally:
        store.close()


def test_delete_conversation_removes_its_messages(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    keep = store.create_conversation(title="keep")
    drop = store.create_conversation(title="drop")
    store.add_message(keep.id, Role.USER, "a")
    store.add_message(drop.id, Role.USER, "b")
    store.delete_conversation(drop.id)
    assert [c.title for c in store.list_conversations()] == ["keep"]
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    store.close()


def test_conversations_ordered_by_last_activity(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    first = store.create_conversation(title="first")
    store.create_conversation(title="second")
    store.add_message(first.id, Role.USER, "bump")
    assert [c.title for c in store.list_conversations()] == ["first", "second"]
    store.rename_conversation(first.id, "  ")
    assert store.get_conversation(first.id).title == "Untitled"
    store.close()


def test_local_only_lock_and_the_privacy_record(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    conversation = store.create_conversation("secret plans")
    assert not store.get_conversation(conversation.id).local_only
    store.set_local_only(conversation.id, True)
    assert store.get_conversation(conversation.id).local_only
    store.record_outbound(
        {
            "at": "2026-11-27T12:00:00+00:00",
            "destination": "openai",
            "host": "api.openai.com",
            "purpose": "chat",
            "model": "gpt-4o",
            "conversation_id": conversation.id,
            "bytes_sent": 321,
        }
    )
    [row] = store.outbound()
    assert (row.conversation, row.bytes_sent) == ("secret plans", 321)
    # Deleting the chat does not rewrite history: the request still happened.
    store.delete_conversation(conversation.id)
    [row] = store.outbound()
    assert row.conversation_id == conversation.id and row.conversation is None
    store.close()


def test_comparison_answers_left_streaming_become_interrupted(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    comparison = store.create_comparison("t", "compare", ["a", "b"])
    store.save_comparison_answer(
        comparison, round_index=0, slot=0, model="a", prompt="p", content="half", status="streaming"
    )
    store.close()
    again = ChatStore(tmp_path / "h.db")  # the next start, after a crash
    [answer] = again.comparison_answers(comparison)
    assert (answer.status, answer.content) == ("interrupted", "half")
    again.close()


def test_a_migration_that_fails_halfway_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.storage import migrations as store_module

    ChatStore(tmp_path / "h.db").close()
    broken = [
        *store_module.MIGRATIONS,
        (
            "broken",
            lambda db: db.executescript(
                "ALTER TABLE conversations ADD COLUMN half INTEGER; SELECT no_such_function();"
            ),
        ),
    ]
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    for _attempt in range(2):  # the second start meets the same state, not "duplicate column"
        with pytest.raises(StoreError, match="no such function"):
            ChatStore(tmp_path / "h.db")
    connection = sqlite3.connect(tmp_path / "h.db")
    columns = [row[1] for row in connection.execute("PRAGMA table_info(conversations)")]
    assert "half" not in columns
    connection.close()


def test_model_failures_are_kept_for_any_file_and_carried_over_from_v7(tmp_path: Path) -> None:
    """Until schema 8 a failure was a column of user_models: a file in the models folder that
    crashed the engine was never remembered. Old marks are carried over; new ones are kept by
    path for any file, and cleared when the file loads."""
    path = tmp_path / "h.db"
    import sqlite_utils

    db = sqlite_utils.Database(path)
    db.execute(
        "CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied TEXT NOT NULL)"
    )
    for number, (name, migration) in enumerate(MIGRATIONS[:7], start=1):
        migration(db)
        db.execute("INSERT INTO _migrations VALUES (?, ?, 'x')", [number, name])
    db.execute(
        "INSERT INTO user_models (path, added, last_error) VALUES ('/u/bad.gguf', 'a', 'boom')"
    )
    db.execute("INSERT INTO user_models (path, added) VALUES ('/u/good.gguf', 'a')")
    db.conn.commit()
    db.close()

    store = ChatStore(path)
    try:
        assert store.schema_version == len(MIGRATIONS)
        assert store.model_errors() == {"/u/bad.gguf": "boom"}
        store.set_model_error("/models/folder.gguf", "crashed")  # never added by the user
        store.set_model_error("/u/bad.gguf", "still bad")
        assert store.model_errors() == {
            "/u/bad.gguf": "still bad",
            "/models/folder.gguf": "crashed",
        }
        store.set_model_error("/u/bad.gguf", None)
        assert store.model_errors() == {"/models/folder.gguf": "crashed"}
    finally:
        store.close()
    again = ChatStore(path)
    try:
        assert again.model_errors() == {"/models/folder.gguf": "crashed"}
    finally:
        again.close()
