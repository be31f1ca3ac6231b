"""The privacy record: one row per request that left the machine (where to, why, how many bytes,
for which chat). Written from the GUI thread through the store, or from any thread through
append_outbound's own short connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from desktop.core.errors import StoreError
from desktop.core.privacy_record import OutboundRecord
from desktop.storage.database import Database

_INSERT_OUTBOUND = (
    "INSERT INTO outbound (at, destination, host, purpose, model, conversation_id, bytes_sent, "
    "images, image_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        int(outbound.get("images", 0)),
        int(outbound.get("image_bytes", 0)),
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


class PrivacyRecord(Database):
    """Owns the outbound table (the privacy record); it outlives the chats it names."""

    def record_outbound(self, outbound: dict[str, Any]) -> None:
        """One request that left the machine (see backends.network.Outbound)."""
        with self._writing():
            self.db.execute(_INSERT_OUTBOUND, _outbound_values(outbound))

    def outbound(self) -> list[OutboundRecord]:
        """The privacy record, oldest first, with each conversation's title (if it still exists)."""
        return [
            OutboundRecord(
                id=row["id"],
                at=row["at"],
                destination=row["destination"],
                host=row["host"],
                purpose=row["purpose"],
                model=row["model"],
                conversation_id=row["conversation_id"],
                bytes_sent=row["bytes_sent"],
                conversation=row["conversation"],
                images=row["images"],
                image_bytes=row["image_bytes"],
            )
            for row in self.db.query(
                "SELECT o.*, c.title AS conversation FROM outbound o "
                "LEFT JOIN conversations c ON c.id = o.conversation_id ORDER BY o.id"
            )
        ]
