"""The chat list read a page at a time (what the sidebar does with 10,000 chats), on a real
SQLite file: pages join up to the whole list in its order (pinned first, newest first), and
deleted chats (awaiting undo) are in no page, no id list and not "listed"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.storage.store import ChatStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    chats = ChatStore(tmp_path / "history.db")
    # 25 chats, updated an hour apart, the same second for two (order then by id).
    stamps = [f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00" for i in range(24)]
    stamps.append(stamps[-1])
    chats.import_conversations(
        {
            "format": "llamaside-chats",
            "version": 1,
            "conversations": [
                {
                    "title": f"Chat {i}",
                    "created": stamp,
                    "updated": stamp,
                    "pinned": i == 3,
                    "messages": [],
                }
                for i, stamp in enumerate(stamps)
            ],
        }
    )
    yield chats
    chats.close()


def test_pages_join_up_to_the_whole_list_in_its_order(store: ChatStore) -> None:
    whole = store.list_conversations()
    assert whole[0].title == "Chat 3" and whole[0].pinned  # pinned first
    assert [c.title for c in whole[1:3]] == ["Chat 24", "Chat 23"]  # same time: newer id first
    pages = [store.list_titles(limit=7, offset=offset) for offset in range(0, 28, 7)]
    assert [len(page) for page in pages] == [7, 7, 7, 4]
    titles = [chat for page in pages for chat in page]
    assert [(t.id, t.title, t.updated, t.pinned) for t in titles] == [
        (c.id, c.title, c.updated, c.pinned) for c in whole
    ]
    assert store.list_titles() == titles
    assert [c.id for c in store.list_conversations(limit=5, offset=5)] == [c.id for c in whole][
        5:10
    ]
    assert store.conversation_ids() == [c.id for c in whole]


def test_deleted_chats_are_in_no_page(store: ChatStore) -> None:
    gone = store.list_conversations()[1]
    store.soft_delete(gone.id)
    assert not store.is_listed(gone.id)
    assert gone.id not in store.conversation_ids()
    assert gone.id not in {t.id for t in store.list_titles()}
    assert len(store.list_titles(limit=100)) == 24
    store.restore(gone.id)
    assert store.is_listed(gone.id)
    assert store.conversation_ids()[1] == gone.id
    assert not store.is_listed(10_000)  # never existed
