"""DownloadManager with the real downloader against the loopback hub, signals on the GUI thread."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.backends.hub import GgufGroup, Hub, group_files
from desktop.backends.model_downloads import target_for
from desktop.services.downloads import DownloadManager, JobState
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.conftest import SMOL_FILE as FILE
from tests.conftest import SMOL_REPO as REPO
from tests.hubserver import HubServer


@pytest.fixture
def hub(smol_hub: HubServer) -> HubServer:
    return smol_hub


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
    assert [r.status for r in store.downloads()] == ["verified"]


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
    # What was on disk was not fetched again (bytes still in socket buffers at the pause
    # count as sent, hence a few percent of slack on a loaded machine).
    assert hosted.bytes_sent < len(hosted.data) * 1.05


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
    assert job_id not in manager.jobs
    # The worker may still be inside a read; the file goes when it has stopped.
    qtbot.waitUntil(lambda: not part.with_name(part.name + ".part").exists(), timeout=10_000)


SPLIT_REPO = "test-org/Split-GGUF"


def test_split_model_paused_in_part_one_restores_all_parts(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot, smollm_path: str
) -> None:
    data = Path(smollm_path).read_bytes()
    hub.state.add(SPLIT_REPO, "M-Q4-00001-of-00002.gguf", data[:60_000_000], rate=20_000_000)
    hub.state.add(SPLIT_REPO, "M-Q4-00002-of-00002.gguf", b"GGUF" + data[:1000])
    split = group_files(Hub().gguf_files(SPLIT_REPO))[0]
    manager = DownloadManager(store, home.models)
    job_id = manager.start(SPLIT_REPO, split)
    qtbot.waitUntil(lambda: manager.jobs[job_id].done > 5_000_000, timeout=30_000)
    manager.pause(job_id)
    qtbot.waitUntil(lambda: manager.jobs[job_id].state == JobState.PAUSED, timeout=10_000)
    manager.shutdown()

    again = DownloadManager(store, home.models)
    again.restore()
    assert [f.path for f in again.jobs[job_id].group.files] == [f.path for f in split.files]
    hub.state.file(SPLIT_REPO, "M-Q4-00001-of-00002.gguf").faults.rate = None
    with qtbot.waitSignal(again.job_finished, timeout=60_000):
        again.resume(job_id)
    for remote in split.files:
        assert target_for(home.models, remote).exists()


def test_cancelled_download_does_not_come_back(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot
) -> None:
    hub.state.file(REPO, FILE).faults.rate = 10_000_000
    manager = DownloadManager(store, home.models)
    job_id = manager.start(REPO, group())
    qtbot.waitUntil(lambda: manager.jobs[job_id].done > 2_000_000, timeout=30_000)
    manager.cancel(job_id, keep_partial=False)
    qtbot.wait(500)  # late signals from the worker arrive and must be ignored
    manager.shutdown()
    assert store.downloads() == []
    again = DownloadManager(store, home.models)
    again.restore()
    assert again.jobs == {}


def test_pause_then_resume_at_once_has_one_writer(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot
) -> None:
    hub.state.file(REPO, FILE).faults.rate = 30_000_000
    manager = DownloadManager(store, home.models)
    job_id = manager.start(REPO, group())
    qtbot.waitUntil(lambda: manager.jobs[job_id].done > 2_000_000, timeout=30_000)
    manager.pause(job_id)
    manager.resume(job_id)  # the old run may still be inside a read
    hub.state.file(REPO, FILE).faults.rate = None
    with qtbot.waitSignal(manager.job_finished, timeout=60_000) as finished:
        pass
    assert finished.args is not None
    path = Path(finished.args[1])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hub.state.file(REPO, FILE).sha256
    assert not path.with_name(path.name + ".part").exists()
    qtbot.waitUntil(
        lambda: not any(t.name.startswith("download-") for t in threading.enumerate()),
        timeout=10_000,
    )


def test_a_failed_download_comes_back_failed_with_its_reason_until_removed(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot
) -> None:
    hosted = hub.state.file(REPO, FILE)
    hosted.faults.rate = 20_000_000
    manager = DownloadManager(store, home.models)
    chosen = group()
    job_id = manager.start(REPO, chosen)
    qtbot.waitUntil(lambda: manager.jobs[job_id].done > 2_000_000, timeout=30_000)
    manager.pause(job_id)
    qtbot.waitUntil(lambda: manager.jobs[job_id].state == JobState.PAUSED, timeout=10_000)
    with pytest.raises(ValueError, match="cancel it instead"):
        manager.remove(job_id)  # a paused download has a partial file the user may want
    # The file went away on the hub: the resume ends in a 404, with bytes already on disk.
    hosted.faults.statuses = [404]
    hosted.faults.rate = None
    with qtbot.waitSignal(manager.job_failed, timeout=30_000):
        manager.resume(job_id)
    assert manager.jobs[job_id].state == JobState.FAILED
    part = target_for(home.models, chosen.files[0]).with_name(FILE + ".part")
    assert part.exists()
    manager.shutdown()

    again = DownloadManager(store, home.models)
    again.restore()
    assert again.jobs[job_id].state == JobState.FAILED  # not "paused": it had failed
    assert "is not on the hub any more (HTTP 404)" in (again.jobs[job_id].error or "")
    with qtbot.waitSignal(again.job_changed) as changed:
        again.remove(job_id)
    assert changed.args == [job_id] and job_id not in again.jobs
    assert not part.exists() and store.downloads() == []
    third = DownloadManager(store, home.models)
    third.restore()
    assert third.jobs == {}


def test_removing_a_finished_download_keeps_the_model(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot
) -> None:
    manager = DownloadManager(store, home.models)
    with qtbot.waitSignal(manager.job_finished, timeout=60_000) as finished:
        job_id = manager.start(REPO, group())
    assert finished.args is not None
    manager.remove(job_id)
    assert job_id not in manager.jobs
    assert Path(finished.args[1]).exists()


def test_a_lookup_that_fails_is_a_failed_download_and_resume_looks_again(
    home: AppPaths, store: ChatStore, hub: HubServer, qtbot: QtBot, smollm_path: str
) -> None:
    from desktop.services.model_catalog import repo_models

    repo = "test-org/Moved-GGUF"
    manager = DownloadManager(store, home.models)
    with qtbot.waitSignal(manager.job_failed, timeout=30_000) as failed:
        job_id = manager.start_lookup(repo, "Moved Q4_1", lambda: repo_models(repo)[0])
    assert manager.jobs[job_id].state == JobState.FAILED
    assert failed.args is not None and repo in failed.args[1]
    assert manager.jobs[job_id].group.files == ()  # nothing was found, nothing recorded
    hub.state.add(repo, "Moved-Q4_1.gguf", Path(smollm_path))
    with qtbot.waitSignal(manager.job_finished, timeout=60_000) as finished:
        manager.resume(job_id)
    assert finished.args is not None and Path(finished.args[1]).name == "Moved-Q4_1.gguf"
    assert manager.jobs[job_id].group.name == "Moved-Q4_1"
