"""A chat's own settings as typed fields: its preset, its sampling, where its context starts
and the summary sent in place of what was dropped; each set without touching the others."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from desktop.core.params import SamplingParams
from desktop.storage.store import ChatStore


def test_preset_sampling_and_context_are_typed_and_set_apart(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    chat = store.create_conversation()
    fresh = store.get_conversation(chat.id)
    assert (fresh.preset, fresh.sampling, fresh.context_from, fresh.context_summary) == (
        "",
        None,
        0,
        "",
    )
    creative = SamplingParams(temperature=1.2, seed=7)
    store.set_sampling(chat.id, creative, preset="Creative")
    store.set_context(chat.id, 42, "They talked about llamas.")
    store.set_sampling(chat.id, SamplingParams(temperature=0.2))  # the preset is kept
    store.set_context(chat.id, 50)  # the summary is kept
    store.set_conversation_model(chat.id, "local:x")
    store.close()

    again = ChatStore(tmp_path / "h.db")
    try:
        conversation = again.get_conversation(chat.id)
        assert conversation.model == "local:x"
        assert conversation.preset == "Creative"
        assert conversation.sampling == SamplingParams(temperature=0.2)
        assert (conversation.context_from, conversation.context_summary) == (
            50,
            "They talked about llamas.",
        )
        exported = again.export_conversations([chat.id])["conversations"][0]["params"]
        assert "context_from" not in exported and exported["preset"] == "Creative"
    finally:
        again.close()


def test_saved_settings_that_no_longer_read_fall_back_to_none(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = ChatStore(path)
    bad_sampling = store.create_conversation(params={"temperature": 99, "preset": "Hot"})
    odd_context = store.create_conversation(params={"context_from": "soon"})
    broken = store.create_conversation()
    store.close()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE conversations SET params = '{oops' WHERE id = ?", [broken.id])
    connection.close()

    again = ChatStore(path)
    try:
        hot = again.get_conversation(bad_sampling.id)
        assert (hot.preset, hot.sampling) == ("Hot", None)
        assert again.get_conversation(odd_context.id).context_from == 0
        unreadable = again.get_conversation(broken.id)
        assert (unreadable.preset, unreadable.sampling, unreadable.context_from) == ("", None, 0)
        again.set_context(broken.id, 3)
        assert again.get_conversation(broken.id).context_from == 3
        assert len(again.list_conversations()) == 3
    finally:
        again.close()
