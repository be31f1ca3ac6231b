"""A quant downloads with its repo's vision projector, into the model's own folder, as one
download: through the real huggingface_hub against our loopback hub, with our downloader, the
download service (a restart resumes the projector with its model) and `llamaside models
download`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.backends.hub import Hub, group_files, select, with_projector
from desktop.backends.local_models import scan_folder
from desktop.backends.model_downloads import ModelProgress, download_group, targets
from desktop.backends.network import Network
from desktop.core.catalog import Quant
from desktop.services.downloads import DownloadManager, JobState, catalog_group
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.backends.projector_files import write_model, write_projector
from tests.cli.test_cli_models import _env
from tests.hubserver import HubServer

REPO = "test-org/Scout-GGUF"
BLIND_REPO = "test-org/Blind-GGUF"


@pytest.fixture
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The repo's files as unsloth lays them out: quants in sub-folders, projectors on top."""
    made = tmp_path_factory.mktemp("made")
    model = write_model(made / "m.gguf", values=50_000).read_bytes()
    half = len(model) // 2
    return {
        "Q4_K_M/Scout-Q4_K_M-00001-of-00002.gguf": model[:half],
        "Q4_K_M/Scout-Q4_K_M-00002-of-00002.gguf": b"GGUF" + model[half:],
        "Scout-Q8_0.gguf": model,
        "mmproj-F32.gguf": write_projector(made / "f32.gguf", values=30_000).read_bytes(),
        "mmproj-F16.gguf": write_projector(made / "f16.gguf", values=20_000).read_bytes(),
        "mmproj-BF16.gguf": write_projector(made / "bf16.gguf", values=20_000).read_bytes(),
    }


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> Iterator[HubServer]:
    with HubServer() as server:
        for path, data in files.items():
            server.state.add(REPO, path, data)
        server.state.add(BLIND_REPO, "Blind-Q4.gguf", files["Scout-Q8_0.gguf"])
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


def test_a_quant_brings_the_f16_projector_into_its_own_folder(
    hub: HubServer, tmp_path: Path, files: dict[str, bytes]
) -> None:
    groups = with_projector(group_files(Hub().gguf_files(REPO)))
    assert [g.name for g in groups] == ["Scout-Q4_K_M", "Scout-Q8_0"]  # no projector listed
    group = select(groups, "Q4_K_M")
    assert group.projector is not None and group.projector.path == "mmproj-F16.gguf"
    assert group.size == group.model_size + len(files["mmproj-F16.gguf"])
    seen: list[ModelProgress] = []
    first = download_group(group, tmp_path, headers={}, on_progress=seen.append)
    folder = tmp_path / "test-org" / "Scout-GGUF" / "Q4_K_M"
    assert first == folder / "Scout-Q4_K_M-00001-of-00002.gguf"
    assert (folder / "mmproj-F16.gguf").read_bytes() == files["mmproj-F16.gguf"]
    assert not (tmp_path / "test-org" / "Scout-GGUF" / "mmproj-F16.gguf").exists()
    # One progress over the model and its projector: three files, to the last byte.
    assert seen[-1].file_count == 3 and seen[-1].done == seen[-1].total == group.size
    [model] = scan_folder(tmp_path)
    assert model.path == str(first) and model.mmproj == str(folder / "mmproj-F16.gguf")
    # A repo without a projector downloads as before; a catalog's named projector wins.
    assert with_projector(group_files(Hub().gguf_files(BLIND_REPO)))[0].projector is None
    named = with_projector(group_files(Hub().gguf_files(REPO)), "mmproj-BF16.gguf")
    assert named[0].projector is not None and named[0].projector.path == "mmproj-BF16.gguf"
    quant = Quant(REPO, "Q8_0", "Scout-Q8_0.gguf", 1, mmproj="mmproj-F32.gguf")
    found = catalog_group(quant, Network())
    assert found.projector is not None and found.projector.path == "mmproj-F32.gguf"


def test_the_service_resumes_the_projector_with_its_model_after_a_restart(
    hub: HubServer, home: AppPaths, qtbot: QtBot, files: dict[str, bytes]
) -> None:
    """Paused while the projector is on its way, the app closes; at the next start the job
    comes back whole (model and projector), resumes, and the model sees."""
    hub.state.file(REPO, "mmproj-F16.gguf").faults.rate = 20_000.0  # slow: pause inside it
    group = select(with_projector(group_files(Hub().gguf_files(REPO))), "Q8_0")
    store = ChatStore(home.database)
    manager = DownloadManager(store, home.models)
    job_id = manager.start(REPO, group)
    placed = targets(home.models, group)
    qtbot.waitUntil(placed[0][1].exists, timeout=30_000)  # the model's file is in
    with qtbot.waitSignal(manager.job_changed, timeout=30_000):
        manager.pause(job_id)
    qtbot.waitUntil(lambda: manager.jobs[job_id].state == JobState.PAUSED, timeout=30_000)
    manager.shutdown()
    assert not placed[1][1].exists()
    statuses = {Path(r.local_path).name: r.status for r in store.downloads()}
    assert statuses == {"Scout-Q8_0.gguf": "verified", "mmproj-F16.gguf": "partial"}

    hub.state.file(REPO, "mmproj-F16.gguf").faults.rate = None
    again = DownloadManager(store, home.models)
    again.restore()
    job = again.jobs[job_id]
    assert job.state == JobState.PAUSED and job.group.projector is not None
    assert job.total == group.size and job.done >= group.model_size
    with qtbot.waitSignal(again.job_finished, timeout=30_000) as finished:
        again.resume(job_id)
    assert finished.args == [job_id, str(placed[0][1])]
    assert placed[1][1].read_bytes() == files["mmproj-F16.gguf"]
    again.shutdown()
    store.close()
    [model] = scan_folder(home.models)
    assert model.mmproj == str(placed[1][1])


def test_llamaside_models_download_fetches_the_projector_too(
    hub: HubServer, home: AppPaths
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "desktop", "models", *args],
            capture_output=True,
            text=True,
            env=_env(home, hub),
            timeout=300,
            check=False,
        )

    result = run("download", REPO, "Q4_K_M")
    assert result.returncode == 0, result.stderr
    assert "3 files, with its vision projector mmproj-F16.gguf" in result.stdout
    assert "It sees images" in result.stdout
    folder = home.models / "test-org" / "Scout-GGUF" / "Q4_K_M"
    assert sorted(p.name for p in folder.iterdir()) == [
        "Scout-Q4_K_M-00001-of-00002.gguf",
        "Scout-Q4_K_M-00002-of-00002.gguf",
        "mmproj-F16.gguf",
    ]
    listed = run("list", "--local")
    line = next(x for x in listed.stdout.splitlines() if "scout-q4-k-m" in x)
    assert "👁 vision" in line
    blind = run("download", BLIND_REPO, "--no-mmproj")
    assert blind.returncode == 0, blind.stderr
    assert "vision projector" not in blind.stdout
