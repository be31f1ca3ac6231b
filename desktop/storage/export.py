"""Writing the privacy record to a file the user chose: CSV for a spreadsheet, else JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from desktop.core.privacy_record import OutboundRecord

#: The privacy record's columns, in the order files show them. Never a key or a header.
PRIVACY_FIELDS = (
    "at",
    "destination",
    "host",
    "purpose",
    "model",
    "conversation_id",
    "conversation",
    "bytes_sent",
    "images",
    "image_bytes",
)


def privacy_rows(outbound: list[OutboundRecord]) -> list[dict[str, Any]]:
    """The records as files and ``llamaside privacy --json`` write them: PRIVACY_FIELDS, in
    their order."""
    return [{k: getattr(record, k) for k in PRIVACY_FIELDS} for record in outbound]


def write_privacy_record(rows: list[dict[str, Any]], target: Path) -> None:
    """CSV when the name ends in .csv, JSON otherwise; written whole, then moved into place."""
    tmp = target.with_name(target.name + ".tmp")
    if target.suffix.lower() == ".csv":
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(PRIVACY_FIELDS))
            writer.writeheader()
            writer.writerows(rows)
    else:
        tmp.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(target)
