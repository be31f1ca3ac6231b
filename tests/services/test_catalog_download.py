"""A catalog quant's download (DownloadManager.start_catalog) against the loopback hub: its
files are found in its repo by the catalog's pattern on the worker thread, and a pattern that
matches nothing is a failed download that says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.catalog import Quant
from desktop.services.downloads import DownloadManager, JobState
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.conftest import SMOL_FILE, SMOL_REPO
from tests.hubserver import HubServer


@pytest.fixture
def store(home: AppPaths) -> Iterator[ChatStore]:
    db = ChatStore(home.database)
    yield db
    db.close()


def test_a_catalog_quant_is_found_and_downloaded(
    home: AppPaths, store: ChatStore, smol_hub: HubServer, qtbot: QtBot
) -> None:
    quant = Quant(SMOL_REPO, "Q8_0", "*.gguf", 0)
    manager = DownloadManager(store, home.models)
    with qtbot.waitSignal(manager.job_finished, timeout=60_000) as finished:
        job_id = manager.start_catalog(quant, "Smol Q8_0")
    assert job_id == f"{SMOL_REPO}/Smol Q8_0"
    assert finished.args is not None and Path(finished.args[1]).name == SMOL_FILE
    assert manager.jobs[job_id].state == JobState.DONE


def test_a_quant_gone_from_its_repo_fails_and_says_so(
    home: AppPaths, store: ChatStore, smol_hub: HubServer, qtbot: QtBot
) -> None:
    quant = Quant(SMOL_REPO, "Q2_K", "*-Q2_K.gguf", 0)
    manager = DownloadManager(store, home.models)
    with qtbot.waitSignal(manager.job_failed, timeout=30_000) as failed:
        job_id = manager.start_catalog(quant, "Smol Q2_K")
    assert failed.args is not None
    assert failed.args[1] == f"{SMOL_REPO} has no files for Q2_K any more."
    assert manager.jobs[job_id].state == JobState.FAILED
