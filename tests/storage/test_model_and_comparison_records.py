"""The store returns downloads and comparisons as core's frozen records."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from desktop.core.comparison_records import ComparisonAnswerRecord, ComparisonRecord
from desktop.core.download_records import DownloadRecord
from desktop.core.errors import StoreError
from desktop.core.hub_files import RemoteFile
from desktop.storage.store import ChatStore


def test_downloads_are_records(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    assert store.downloads() == [] and store.download("/m/a.gguf") is None
    store.record_download(
        "/m/a.gguf",
        repo="o/r",
        path="a.gguf",
        url="https://x/a",
        size=5,
        sha256=None,
        status="partial",
    )
    store.record_download(
        "/m/a.gguf",
        repo="o/r",
        path="a.gguf",
        url="https://x/a",
        size=5,
        sha256="ab",
        status="failed",
        error="Disk full.",
    )
    record = store.download("/m/a.gguf")
    assert isinstance(record, DownloadRecord)
    assert (record.repo, record.path, record.size, record.sha256) == ("o/r", "a.gguf", 5, "ab")
    assert (record.status, record.error) == ("failed", "Disk full.")
    assert record.updated and store.downloads() == [record]
    assert record.remote == RemoteFile("o/r", "a.gguf", "https://x/a", 5, "ab")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = "verified"  # type: ignore[misc]
    store.forget_download("/m/a.gguf")
    assert store.downloads() == []
    store.close()


def test_comparisons_and_their_answers_are_records(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "h.db")
    made = store.create_comparison("Fruits", "blind", ["local:a", "openai:b"], tag="t")
    store.save_comparison_answer(
        made,
        round_index=0,
        slot=1,
        model="openai:b",
        prompt="Hi?",
        content="Hello.",
        status="complete",
        usage={"output_tokens": 2},
    )
    store.save_comparison_answer(
        made,
        round_index=0,
        slot=0,
        model="local:a",
        prompt="Hi?",
        content="",
        status="failed",
        error="It crashed.",
    )
    [listed] = store.comparisons()
    assert listed == store.comparison(made)
    assert isinstance(listed, ComparisonRecord)
    assert (listed.id, listed.title, listed.kind, listed.tag) == (made, "Fruits", "blind", "t")
    assert listed.models == ("local:a", "openai:b") and listed.created
    first, second = store.comparison_answers(made)
    assert isinstance(first, ComparisonAnswerRecord)
    assert (first.slot, first.status, first.error, first.usage) == (
        0,
        "failed",
        "It crashed.",
        None,
    )
    assert (second.comparison_id, second.round, second.slot) == (made, 0, 1)
    assert (second.model, second.content, second.usage) == (
        "openai:b",
        "Hello.",
        {"output_tokens": 2},
    )
    with pytest.raises(StoreError):
        store.comparison(made + 1)
    store.close()
