"""DownloadManager with the real downloader against the loopback hub, signals on the GUI thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.backends.hub import GgufGroup, Hub, group_files
from desktop.backends.model_downloads import target_for
from desktop.services.downloads import DownloadManager, JobState
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.hubserver import HubServer

REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, smollm_path: str) -> Iterator[HubServer]:
    with HubServer() as server:
        server.state.add(REPO, FILE, Path(smollm_path))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def store(home: AppPaths) -> Iterator[ChatStore]:
    db = ChatStore(home.database)
    yield db
    db.close()


def group() -> GgufGroup:
    return group_files(Hub().gguf_files(REPO))[0]


def test_download_finishes_and_is_recorded(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot
) -> None:
    manager = DownloadManager(store, home.models)
    changes: list[int] = []
    manager.job_changed.connect(lambda job_id: changes.append(manager.jobs[job_id].done))
    with qtbot.waitSignal(manager.job_finished, timeout=60_000) as finished:
        job_id = manager.start(REPO, group())
    assert finished.args is not None
    path = Path(finished.args[1])
    assert path.exists() and path.name == FILE
    assert manager.jobs[job_id].state == JobState.DONE
    assert changes[-1] == path.stat().st_size
    assert [r["status"] for r in store.downloads()] == ["verified"]


def test_pause_restart_resume(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot
) -> None:
    hosted = hub.state.file(REPO, FILE)
    hosted.faults.rate = 20_000_000
    manager = DownloadManager(store, home.models)
    job_id = manager.start(REPO, group())
    qtbot.waitUntil(lambda: manager.jobs[job_id].done > 10_000_000, timeout=30_000)
    manager.pause(job_id)
    qtbot.waitUntil(lambda: manager.jobs[job_id].state == JobState.PAUSED, timeout=10_000)
    manager.shutdown()

    # "Restart": a new manager finds the unfinished job, paused, with its bytes counted.
    again = DownloadManager(store, home.models)
    again.restore()
    assert list(again.jobs) == [job_id]
    assert again.jobs[job_id].state == JobState.PAUSED
    assert again.jobs[job_id].done > 10_000_000
    hosted.faults.rate = None
    with qtbot.waitSignal(again.job_finished, timeout=60_000):
        again.resume(job_id)
    assert hosted.bytes_sent < len(hosted.data) * 1.01


def test_failure_is_reported(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot
) -> None:
    hub.state.file(REPO, FILE).faults.corrupt_at = 100
    manager = DownloadManager(store, home.models)
    with qtbot.waitSignal(manager.job_failed, timeout=60_000) as failed:
        manager.start(REPO, group())
    assert failed.args is not None and "damaged" in failed.args[1]


def test_cancel_can_drop_or_keep_the_partial_file(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot
) -> None:
    hub.state.file(REPO, FILE).faults.rate = 10_000_000
    manager = DownloadManager(store, home.models)
    chosen = group()
    job_id = manager.start(REPO, chosen)
    qtbot.waitUntil(lambda: manager.jobs[job_id].done > 2_000_000, timeout=30_000)
    manager.cancel(job_id, keep_partial=True)
    part = target_for(home.models, chosen.files[0])
    assert part.with_name(part.name + ".part").exists()
    job_id = manager.start(REPO, chosen)
    qtbot.waitUntil(lambda: manager.jobs[job_id].done > 4_000_000, timeout=30_000)
    manager.cancel(job_id, keep_partial=False)
    assert not part.with_name(part.name + ".part").exists()
    assert job_id not in manager.jobs
