"""Messages as parts in the store: migration 11 from a v10 file, every part kind kept through a
write and a read, and a stored parts value this version cannot read still opening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from desktop.core.messages import MessageStatus, Role
from desktop.core.parts import (
    Attachment,
    Image,
    Reasoning,
    Text,
    ToolCall,
    ToolResult,
    Unknown,
    placeholder,
)
from desktop.storage.migrations import MIGRATIONS
from desktop.storage.rows import UNREADABLE
from desktop.storage.store import ChatStore

EVERY_KIND = (
    Reasoning("Think first."),
    Text("Here is the chart. "),
    Image("image/png", "images/chart.png", alt="a chart"),
    Attachment("notes.txt", "text/plain", text="the notes"),
    ToolCall("call-1", "weather", '{"city": "Oslo"}'),
    ToolResult("call-1", "12 °C", is_error=False),
    ToolResult("call-2", "no network", is_error=True),
    Unknown({"type": "hologram", "frames": [1, 2], "nested": {"a": None}}),
    Text("It is mild."),
)


def v10_database(path: Path) -> None:
    """A history file as Llamaside wrote it at schema 10, with a reasoning row and a plain row."""
    db = sqlite_utils.Database(path)
    db.execute(
        "CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied TEXT NOT NULL)"
    )
    for number, (name, migration) in enumerate(MIGRATIONS[:10], start=1):
        migration(db)
        db.execute("INSERT INTO _migrations VALUES (?, ?, 'x')", [number, name])
    db.execute(
        "INSERT INTO conversations (id, title, created, updated, leaf_id) "
        "VALUES (1, 'old', 'a', 'a', 2)"
    )
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, content, status, created, parent_id) "
        "VALUES (1, 1, 'user', 'What is 2+2?', 'complete', 'a', NULL)"
    )
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, content, status, created, parent_id, "
        "reasoning) VALUES (2, 1, 'assistant', 'Four, quokka.', 'complete', 'b', 1, "
        "'Two and two… «ü»')"
    )
    db.conn.commit()
    db.close()


def test_migration_11_moves_reasoning_into_parts_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    v10_database(path)
    store = ChatStore(path)
    try:
        assert store.schema_version == len(MIGRATIONS) >= 11
        question, answer = store.messages(1)
        assert question.parts == (Text("What is 2+2?"),)
        assert answer.parts == (Reasoning("Two and two… «ü»"), Text("Four, quokka."))
        assert (answer.content, answer.reasoning) == ("Four, quokka.", "Two and two… «ü»")
        rows = dict(store.db.execute("SELECT id, parts FROM messages").fetchall())
        assert rows[1] is None  # plain text: nothing to parse when the chat opens
        [hit] = store.search("quokka")  # the search index still holds the text
        assert hit.message_id == 2
    finally:
        store.close()
    assert list(tmp_path.glob("h.db.before-v*.bak"))


def test_every_part_kind_is_read_back_as_written(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    chat = store.create_conversation()
    question = store.add_message(chat.id, Role.USER, "plain question")
    answer = store.add_message(chat.id, Role.ASSISTANT, parts=EVERY_KIND, model="m")
    assert answer.parts == EVERY_KIND
    assert answer.content == "Here is the chart. It is mild."
    assert answer.reasoning == "Think first."
    store.close()

    again = ChatStore(tmp_path / "h.db")
    try:
        assert [m.parts for m in again.messages(chat.id)] == [question.parts, EVERY_KIND]
        assert again.all_messages(chat.id)[1].parts == EVERY_KIND
        assert again.get_message(answer.id).parts == EVERY_KIND
        assert again.search("mild")[0].message_id == answer.id
        stored = again.db.execute(
            "SELECT parts FROM messages WHERE id = ?", [question.id]
        ).fetchone()
        assert stored[0] is None
    finally:
        again.close()


def test_updating_text_or_reasoning_keeps_the_other_parts(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    chat = store.create_conversation()
    answer = store.add_message(chat.id, Role.ASSISTANT, "", status=MessageStatus.STREAMING)
    store.update_message(answer.id, content="Hal")
    assert store.get_message(answer.id).parts == (Text("Hal"),)
    store.update_message(answer.id, content="Hello", reasoning="greet")
    assert store.get_message(answer.id).parts == (Reasoning("greet"), Text("Hello"))
    store.update_message(answer.id, content="Hello!", status=MessageStatus.COMPLETE)
    done = store.get_message(answer.id)
    assert done.parts == (Reasoning("greet"), Text("Hello!"))
    assert done.status == MessageStatus.COMPLETE
    tool = (ToolCall("c", "f", "{}"), Text("after"))
    store.update_message(answer.id, parts=tool)
    store.update_message(answer.id, reasoning="why")
    assert store.get_message(answer.id).parts == (Reasoning("why"), *tool)
    store.update_message(answer.id, reasoning="", content="")
    assert store.get_message(answer.id).parts == (ToolCall("c", "f", "{}"),)
    store.close()


def test_an_unreadable_parts_value_opens_as_a_placeholder_and_keeps_the_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.db"
    store = ChatStore(path)
    chat = store.create_conversation()
    bad = ['{"not json', '[{"type": "image"}]', '"a string"', "[" * 100_000]
    ids = [
        store.add_message(chat.id, Role.ASSISTANT, parts=(Reasoning("r"), Text(f"text {i}"))).id
        for i in range(len(bad))
    ]
    store.close()
    connection = sqlite3.connect(path)
    with connection:
        for message_id, value in zip(ids, bad, strict=True):
            connection.execute("UPDATE messages SET parts = ? WHERE id = ?", [value, message_id])
    connection.close()

    again = ChatStore(path)
    try:
        shown = again.messages(chat.id)
        assert [m.id for m in shown] == ids
        for i, (message, value) in enumerate(zip(shown, bad, strict=True)):
            unreadable, text = message.parts
            assert text == Text(f"text {i}") and message.content == f"text {i}"
            assert isinstance(unreadable, Unknown) and unreadable.type == UNREADABLE
            assert unreadable.data["raw"] == value  # kept as written, for a later version
            assert "unreadable" in placeholder(unreadable)
        assert again.get_message(ids[0]).parts == shown[0].parts
    finally:
        again.close()
