"""The privacy record as the UI shows and saves it: every request that left this computer,
one row each (time, destination, host, purpose, model, chat, bytes sent and the pictures
among them; never a key or a header), and its export to CSV or JSON. The record itself is
kept by the cloud service's network gate (CloudService.record())."""

from __future__ import annotations

from pathlib import Path

from desktop.core.privacy_record import OutboundRecord
from desktop.services.cloud import CloudService
from desktop.storage.export import privacy_rows, write_privacy_record


def record_rows(cloud: CloudService) -> list[OutboundRecord]:
    """The record's requests, oldest first, each with its chat's title (if it still exists)."""
    return cloud.record()


def export_record(cloud: CloudService, path: Path) -> None:
    """The record written to ``path``: CSV when its name ends in .csv, JSON otherwise, written
    whole, then moved into place. Raises OSError when it cannot be written."""
    write_privacy_record(privacy_rows(cloud.record()), path)
