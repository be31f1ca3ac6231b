"""ChatLibrary on a real SQLite file: the listing a page at a time and search, rename, pin,
delete with undo, duplicate, and export to JSON and Markdown that imports back exactly; a file
that is not an export, or cannot be read or written, is said in a sentence and imports nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.core.chat_records import HIT_END, HIT_START
from desktop.core.errors import LlamasideError
from desktop.core.history_format import ChatImportError
from desktop.core.messages import Role
from desktop.services.library import ChatLibrary, LibraryError
from desktop.storage.store import ChatStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    chats = ChatStore(tmp_path / "history.db")
    yield chats
    chats.close()


@pytest.fixture
def library(store: ChatStore) -> ChatLibrary:
    return ChatLibrary(store)


def _chat(store: ChatStore, title: str, *texts: str) -> int:
    conversation = store.create_conversation(title=title)
    for index, text in enumerate(texts):
        role = Role.USER if index % 2 == 0 else Role.ASSISTANT
        store.add_message(conversation.id, role, text, model=None if index % 2 == 0 else "m:1")
    return conversation.id


def test_listing_pages_and_search(store: ChatStore, library: ChatLibrary) -> None:
    ids = [_chat(store, f"Chat {i}", f"question {i} about llamas") for i in range(5)]
    library.set_pinned(ids[1], True)
    assert library.is_pinned(ids[1])
    whole = library.titles()
    assert whole[0].id == ids[1] and whole[0].pinned  # pinned first
    pages = (
        library.titles(limit=2)
        + library.titles(limit=2, offset=2)
        + library.titles(limit=2, offset=4)
    )
    assert pages == whole
    latest = library.latest()
    assert latest is not None and latest.id == ids[1]
    hits = library.search("llamas question 3")
    assert [hit.conversation_id for hit in hits] == [ids[3]]
    assert f"{HIT_START}llamas{HIT_END}" in hits[0].snippet
    assert hits[0].title == "Chat 3"
    assert library.search("   ") == []


def test_rename_duplicate_delete_and_undo(store: ChatStore, library: ChatLibrary) -> None:
    first = _chat(store, "First", "hello", "hi there")
    other = _chat(store, "Other", "more")
    library.rename(first, "  Greetings  ")
    assert library.conversation(first).title == "Greetings"
    library.rename(first, "   ")
    assert library.conversation(first).title == "Untitled"
    library.set_pinned(first, True)
    copy = library.duplicate(first)
    assert copy.title == "Untitled (copy)" and not copy.pinned
    assert [m.content for m in store.messages(copy.id)] == ["hello", "hi there"]

    gone = library.delete(first)
    assert gone.title == "Untitled"
    assert not library.is_listed(first)
    assert first not in [t.id for t in library.titles()]
    assert library.search("hello") and all(
        hit.conversation_id != first for hit in library.search("hello")
    )
    library.undo_delete(first)
    assert library.is_listed(first)

    # One deletion awaits Undo at a time: the next one purges the earlier for good.
    library.delete(first)
    library.delete(other)
    library.undo_delete(first)
    assert not library.is_listed(first)  # purged: its Undo time was over
    library.undo_delete(other)
    assert library.is_listed(other)
    library.delete(copy.id)
    assert library.purge_deleted() == 1
    assert [t.id for t in library.titles()] == [other]


def test_json_export_imports_back_exactly(
    store: ChatStore, library: ChatLibrary, tmp_path: Path
) -> None:
    first = _chat(store, "First", "hello", "hi there")
    _chat(store, "Second", "another question")
    target = tmp_path / "all.json"
    titles = library.export(target)
    assert sorted(titles) == ["First", "Second"]
    assert json.loads(target.read_text(encoding="utf-8"))["format"] == "llamaside-chats"

    one = tmp_path / "one.JSON"
    assert library.export(one, [first]) == ["First"]
    other_store = ChatStore(tmp_path / "elsewhere.db")
    try:
        elsewhere = ChatLibrary(other_store)
        [copy] = elsewhere.import_file(one)
        assert elsewhere.conversation(copy).title == "First"
        assert [(m.role, m.content) for m in other_store.messages(copy)] == [
            (m.role, m.content) for m in store.messages(first)
        ]
        assert len(elsewhere.import_file(target)) == 2
    finally:
        other_store.close()


def test_markdown_export_names_the_models(
    store: ChatStore, library: ChatLibrary, tmp_path: Path
) -> None:
    first = _chat(store, "First", "hello", "hi there")
    target = tmp_path / "chat.md"
    assert library.export(target, [first], {"m:1": "Tiny Model"}) == ["First"]
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# First")
    assert "**You**" in text and "**Tiny Model**" in text and "hi there" in text


def test_chatgpt_export_is_imported(library: ChatLibrary, tmp_path: Path) -> None:
    source = tmp_path / "conversations.json"
    mapping = {
        "root": {"parent": None, "message": None},
        "q": {
            "parent": "root",
            "message": {"author": {"role": "user"}, "content": {"parts": ["Hi?"]}},
        },
        "a": {
            "parent": "q",
            "message": {
                "author": {"role": "assistant"},
                "content": {"parts": ["Hello."]},
                "metadata": {"model_slug": "gpt-4o"},
            },
        },
    }
    source.write_text(
        json.dumps([{"title": "From ChatGPT", "mapping": mapping, "current_node": "a"}]),
        encoding="utf-8",
    )
    [new] = library.import_file(source)
    assert library.conversation(new).title == "From ChatGPT"


def test_bad_files_import_nothing_and_say_why(library: ChatLibrary, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(LibraryError, match=r"^Could not import missing\.json: "):
        library.import_file(missing)
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json", encoding="utf-8")
    with pytest.raises(LibraryError, match=r"^Could not import garbled\.json: "):
        library.import_file(garbled)
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(ChatImportError, match="neither a Llamaside chat export"):
        library.import_file(foreign)
    assert library.titles() == []


def test_unwritable_export_is_said(store: ChatStore, library: ChatLibrary, tmp_path: Path) -> None:
    first = _chat(store, "First", "hello")
    target = tmp_path / "no such folder" / "chat.md"
    with pytest.raises(LibraryError, match=r"^Could not write .*chat\.md: ") as raised:
        library.export(target, [first])
    assert isinstance(raised.value, LlamasideError)


def test_a_chat_is_read_and_changed_through_the_library(
    store: ChatStore, library: ChatLibrary
) -> None:
    created = library.create()
    assert library.is_listed(created.id) and library.is_empty(created.id)
    first = _chat(store, "First", "hello")
    [question] = library.messages(first)
    assert library.message(question.id).content == "hello"
    assert library.branch_ids(first) == [question.id]
    library.set_model(first, "local:x")
    assert library.conversation(first).model == "local:x"
    assert library.conversation_ids()[0] in (first, created.id)
    assert library.path == store.path and library.corrupt_copy is None
