"""The privacy record as the dialog reads and exports it, through the cloud service's network
gate on a real SQLite file: each request sent is a row (never a key or a header), and the
export is CSV or JSON by the file's name."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.backends.network import Outbound
from desktop.services.cloud import CloudService
from desktop.services.privacy import export_record, record_rows
from desktop.storage.export import PRIVACY_FIELDS, privacy_rows
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore


@pytest.fixture
def cloud(home: AppPaths) -> Iterator[CloudService]:
    home.create()
    store = ChatStore(home.database)
    yield CloudService(store, Settings(home.settings), home.pricing)
    store.close()


def test_rows_and_export(cloud: CloudService, qtbot: QtBot, tmp_path: Path) -> None:
    assert record_rows(cloud) == []
    sent = Outbound("openai", "api.openai.com", "chat", "gpt-4o", None, 1234)
    with qtbot.waitSignal(cloud.recorded):
        cloud.network.sent(sent)
    [record] = record_rows(cloud)
    assert (record.destination, record.purpose, record.bytes_sent) == ("openai", "chat", 1234)
    assert (record.conversation_id, record.conversation) == (None, None)
    [row] = privacy_rows([record])  # what files hold: the columns files show, in their order
    assert tuple(row) == PRIVACY_FIELDS
    assert row == {k: getattr(record, k) for k in PRIVACY_FIELDS}

    as_csv = tmp_path / "record.csv"
    export_record(cloud, as_csv)
    with as_csv.open(encoding="utf-8", newline="") as handle:
        [saved] = list(csv.DictReader(handle))
    assert saved["host"] == "api.openai.com" and saved["bytes_sent"] == "1234"
    as_json = tmp_path / "record.json"
    export_record(cloud, as_json)
    assert json.loads(as_json.read_text(encoding="utf-8")) == [row]
    with pytest.raises(OSError):
        export_record(cloud, tmp_path / "no such folder" / "record.csv")
