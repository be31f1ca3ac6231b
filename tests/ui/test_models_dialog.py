"""The model manager, offscreen: fit table for this machine, Hugging Face listing through our
loopback hub, a download that streams progress and ends in the model picker."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit, QProgressBar
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.services.downloads import JobState
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from desktop.ui.models_dialog import ModelsDialog
from tests.conftest import SMOL_FILE as FILE
from tests.conftest import SMOL_REPO as REPO
from tests.hubserver import HubServer
from tests.ui.driving import answer_modal, file_dialog_answer


@pytest.fixture
def hub(smol_hub: HubServer) -> HubServer:
    return smol_hub


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot) -> Iterator[MainWindow]:
    win = build_window(home)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    win.chat.store.close()


def open_dialog(window: MainWindow, qtbot: QtBot) -> ModelsDialog:
    window.models_action.trigger()
    dialog = window.models_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.machine is not None, timeout=30_000)
    return dialog


def test_fit_table_for_this_machine(window: MainWindow, qtbot: QtBot) -> None:
    dialog = open_dialog(window, qtbot)
    table = dialog.fit_table
    assert table.rowCount() == len(dialog.catalog.get("llama-4-scout-17b-16e-instruct").quants)
    assert "This machine:" in dialog.machine_label.text()
    assert "KV cache for 8,192 tokens" in dialog.advice_label.text()
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("llama-3.2-3b-instruct"))
    assert table.rowCount() == 2
    verdicts = [table.item(r, 3).text() for r in range(table.rowCount())]  # type: ignore[union-attr]
    assert any("★ recommended" in v for v in verdicts)
    dialog.ctx_spin.setValue(32768)
    assert "KV cache for 32,768 tokens" in dialog.advice_label.text()


def test_download_from_a_pasted_repo(window: MainWindow, qtbot: QtBot, hub: HubServer) -> None:
    hub.state.file(REPO, FILE).faults.rate = 40_000_000
    dialog = open_dialog(window, qtbot)
    dialog.tabs.setCurrentIndex(1)
    dialog.repo_edit.setText(f"https://huggingface.co/{REPO}")
    qtbot.mouseClick(dialog.files_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.files_table.rowCount() == 1, timeout=30_000)
    assert dialog.files_table.item(0, 0).text() == FILE.removesuffix(".gguf")  # type: ignore[union-attr]
    dialog.files_table.selectRow(0)
    progress: list[int] = []

    def watch(_job: str) -> None:
        bar = dialog.downloads_table.cellWidget(0, 1)
        if isinstance(bar, QProgressBar):
            progress.append(bar.value())

    window.downloads.job_changed.connect(watch)
    with qtbot.waitSignal(window.downloads.job_finished, timeout=60_000):
        qtbot.mouseClick(dialog.download_file_button, Qt.MouseButton.LeftButton)
        assert dialog.tabs.currentIndex() == 2
    assert any(0 < v < 1000 for v in progress), "progress should show between 0 and 100%"
    assert "Verified" in dialog.downloads_table.item(0, 2).text()  # type: ignore[union-attr]
    job = next(iter(window.downloads.jobs.values()))
    assert job.state == JobState.DONE
    ids = [window.model_picker.itemData(i) for i in range(window.model_picker.count())]
    assert "local:smollm2-135m-instruct.q4-1" in ids
    assert any(
        "smollm2-135m-instruct.q4-1" in dialog.local_table.item(r, 0).text()  # type: ignore[union-attr]
        for r in range(dialog.local_table.rowCount())
    )


def test_offline_hub_is_a_message_not_a_freeze(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    dialog = open_dialog(window, qtbot)
    dialog.search_edit.setText("llama")
    qtbot.mouseClick(dialog.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Cannot reach Hugging Face" in dialog.hub_status.text(), timeout=5_000)


def test_token_goes_to_the_keyring_and_is_never_shown(
    window: MainWindow,
    qtbot: QtBot,
    secret_service: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keyring

    monkeypatch.delenv("HF_TOKEN", raising=False)
    dialog = open_dialog(window, qtbot)
    assert dialog.token_label.text() == "Hugging Face token: none set"
    seen: dict[str, object] = {}

    def fake_dialog(*args: object, **kwargs: object) -> tuple[str, bool]:
        seen["echo"] = args[3] if len(args) > 3 else kwargs.get("echo")
        return "hf_secret_value_123", True

    monkeypatch.setattr("desktop.ui.models_dialog.QInputDialog.getText", fake_dialog)
    dialog.token_button.click()
    assert seen["echo"] == QLineEdit.EchoMode.Password
    assert keyring.get_password("llamaside", "huggingface") == "hf_secret_value_123"
    assert dialog.token_label.text() == "Hugging Face token: stored in the system keyring"
    assert "hf_secret_value_123" not in dialog.token_label.text() + dialog.windowTitle()
    monkeypatch.setattr("desktop.ui.models_dialog.QInputDialog.getText", lambda *a, **k: ("", True))
    dialog.token_button.click()
    assert keyring.get_password("llamaside", "huggingface") is None


def test_download_goes_on_while_chatting(window: MainWindow, qtbot: QtBot, hub: HubServer) -> None:
    from desktop.backends.hub import Hub, group_files
    from desktop.core.params import SamplingParams

    hosted = hub.state.file(REPO, FILE)
    # Slow enough (~25 s for the file) that the answer ends first even on a busy CI machine
    # whose engine starts twice (a CPU whose fast path crashes falls back to safe mode).
    hosted.faults.rate = 4_000_000
    job_id = window.downloads.start(REPO, group_files(Hub().gguf_files(REPO))[0])
    qtbot.waitUntil(lambda: window.downloads.jobs[job_id].done > 1_000_000, timeout=30_000)
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=12)
    window.input_box.setFocus()
    qtbot.keyClicks(window.input_box, "Hello while downloading")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    job = window.downloads.jobs[job_id]
    assert job.state == JobState.DOWNLOADING  # still going after the answer
    assert 0 < job.done < job.total
    hosted.faults.rate = None
    with qtbot.waitSignal(window.downloads.job_finished, timeout=60_000):
        pass


def test_import_checks_the_file_and_says_what_it_did(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    """ "On this computer" → Import GGUF file…: a file that is no model is refused there, with
    the reason; a real one is listed and named."""
    dialog = open_dialog(window, qtbot)
    bad = tmp_path / "x.gguf"
    bad.write_bytes(os.urandom(200_000))
    failures = answer_modal(file_dialog_answer(bad), QFileDialog)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert not failures, failures
    assert "x.gguf: it is not a GGUF model file" in dialog.import_note.text()
    assert dialog.import_note.text().endswith("It was not added.")
    listed = [dialog.local_table.item(r, 3).text() for r in range(dialog.local_table.rowCount())]  # type: ignore[union-attr]
    assert str(bad) not in listed
    assert window.model_picker.findData("local:x") < 0

    good = tmp_path / "mine.gguf"
    shutil.copyfile(smollm_path, good)
    failures = answer_modal(file_dialog_answer(good), QFileDialog)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert not failures, failures
    assert dialog.import_note.text() == "Added mine: new chats start on it."
    listed = [dialog.local_table.item(r, 3).text() for r in range(dialog.local_table.rowCount())]  # type: ignore[union-attr]
    assert str(good) in listed
