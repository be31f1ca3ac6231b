"""Migration 13 on a real history file: the privacy record's rows written before pictures were
sent keep every field and read as carrying none; rows written after say how many and how large."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from desktop.storage.migrations import MIGRATIONS
from desktop.storage.store import ChatStore


def v12_database(path: Path) -> None:
    """A history file as Llamaside wrote it at schema 12, with one request in the record."""
    db = sqlite_utils.Database(path)
    db.execute(
        "CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied TEXT NOT NULL)"
    )
    for number, (name, migration) in enumerate(MIGRATIONS[:12], start=1):
        migration(db)
        db.execute("INSERT INTO _migrations VALUES (?, ?, 'x')", [number, name])
    db.execute(
        "INSERT INTO outbound (at, destination, host, purpose, model, conversation_id, "
        "bytes_sent) VALUES ('2026-01-02T03:04:05+00:00', 'openai', 'api.openai.com', 'chat', "
        "'gpt-4o', NULL, 987)"
    )
    db.conn.commit()
    db.close()


def test_migration_13_adds_the_pictures_to_the_privacy_record(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    v12_database(path)
    store = ChatStore(path)
    try:
        assert store.schema_version == len(MIGRATIONS) >= 13
        [old] = store.outbound()
        assert (old.model, old.bytes_sent, old.images, old.image_bytes) == ("gpt-4o", 987, 0, 0)
        assert old.images_note == ""
        store.record_outbound(
            {
                "at": "2026-01-02T03:05:00+00:00",
                "destination": "anthropic",
                "host": "api.anthropic.com",
                "purpose": "chat",
                "bytes_sent": 1_400_000,
                "images": 1,
                "image_bytes": 1_048_576,
            }
        )
        new = store.outbound()[-1]
        assert (new.images, new.image_bytes, new.images_note) == (1, 1_048_576, "1 image, 1.0 MB")
    finally:
        store.close()
