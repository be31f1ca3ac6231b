"""Another models folder, chosen as a user chooses it: Preferences → Folders → Change…, the
folder picked in the dialog. The model list and the downloads move there at once and at the next
start; Default goes back; a download still unfinished (its partial files are in the old folder)
is refused with the reason and changes nothing; a chosen folder that is gone at a start (a
drive not connected) leaves the default in use and says so. The real window, its settings file
and its SQLite store. (A folder Llamaside cannot write in: tests/storage/test_models_folder.py.)"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.storage.models_folder import MODELS_DIR
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from desktop.ui.main_window import MainWindow
from desktop.ui.prefs_pages import FoldersPage
from tests.ui.driving import answer_modal, file_dialog_answer
from tests.ui.test_preferences import go_to, open_preferences


def _model_into(folder: Path, smollm_path: str, name: str) -> Path:
    """A model file in ``folder`` (a hard link where the disk allows: 98 MB less to copy)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    try:
        os.link(smollm_path, target)
    except OSError:
        shutil.copy(smollm_path, target)
    return target


def _folders_page(window: MainWindow, qtbot: QtBot) -> FoldersPage:
    page = go_to(open_preferences(window, qtbot), "Folders")
    assert isinstance(page, FoldersPage)
    return page


def _open_window(home: AppPaths, qtbot: QtBot) -> MainWindow:
    window = build_window(home)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _paused_download(home: AppPaths, local_path: Path) -> None:
    """A Scout download recorded as partial at ``local_path`` (the app quit during it)."""
    store = ChatStore(home.database)
    store.record_download(
        str(local_path),
        repo="unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF",
        path="Scout-IQ1_S.gguf",
        url="http://127.0.0.1:9/Scout-IQ1_S.gguf",
        size=10_000_000,
        sha256=None,
        status="partial",
    )
    store.close()


def _close(window: MainWindow) -> None:
    window.close()
    window.chat.store.close()


def _refused(click: QWidget, qtbot: QtBot, dialog_answer: Path | None = None) -> str:
    """Click ``click`` (answering the folder dialog with ``dialog_answer``); the warning's text."""
    said: list[str] = []

    def read(box: QWidget) -> None:
        assert isinstance(box, QMessageBox)
        said.append(box.text())
        box.accept()

    failures = answer_modal(read, QMessageBox)
    if dialog_answer is not None:
        failures += answer_modal(file_dialog_answer(dialog_answer), QFileDialog)
    qtbot.mouseClick(click, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(said), timeout=10_000)
    assert not failures, failures
    return said[0]


def test_a_chosen_folder_lists_its_models_takes_downloads_and_holds_after_a_restart(
    home: AppPaths, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    disk = tmp_path / "big-disk" / "gguf"
    there = _model_into(disk, smollm_path, "scout-stand-in.gguf")
    here = _model_into(home.models, smollm_path, "in-the-data-folder.gguf")
    window = _open_window(home, qtbot)
    assert str(here) in {m.path for m in window.chat.models}
    page = _folders_page(window, qtbot)
    assert page.models_edit.text() == str(home.models)
    assert not page.default_button.isEnabled()  # the default is in use

    failures = answer_modal(file_dialog_answer(disk), QFileDialog)
    qtbot.mouseClick(page.change_button, Qt.MouseButton.LeftButton)
    assert not failures, failures
    paths = {m.path for m in window.chat.models}
    assert str(there) in paths and str(here) not in paths
    assert window.chat.models_dir == disk and window.downloads.models_dir == disk
    assert page.models_edit.text() == str(disk) and page.default_button.isEnabled()
    assert page.models_note is not None and page.models_note.text().startswith("1 model file")
    assert Settings(home.settings).get(MODELS_DIR) == str(disk)
    _close(window)

    again = _open_window(home, qtbot)  # the next start
    assert again.chat.models_dir == disk and again.downloads.models_dir == disk
    assert str(there) in {m.path for m in again.chat.models}
    page = _folders_page(again, qtbot)
    qtbot.mouseClick(page.default_button, Qt.MouseButton.LeftButton)
    assert again.chat.models_dir == home.models == again.downloads.models_dir
    paths = {m.path for m in again.chat.models}
    assert str(here) in paths and str(there) not in paths
    assert Settings(home.settings).get(MODELS_DIR) == ""
    # The default again by another name (a link to it) is the default, not a choice.
    link = tmp_path / "link-to-models"
    link.symlink_to(home.models, target_is_directory=True)
    failures = answer_modal(file_dialog_answer(link), QFileDialog)
    qtbot.mouseClick(page.change_button, Qt.MouseButton.LeftButton)
    assert not failures, failures
    assert Settings(home.settings).get(MODELS_DIR) == ""
    assert again.chat.models_dir == home.models and not page.default_button.isEnabled()
    _close(again)


def test_an_unfinished_download_keeps_the_folder_and_says_why(
    home: AppPaths, qtbot: QtBot, tmp_path: Path
) -> None:
    # A download paused when the app last quit: its partial file is in the models folder.
    partial = home.models / "unsloth" / "Scout-IQ1_S.gguf"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"GGUF" + b"\0" * 1020)
    _paused_download(home, partial)
    window = _open_window(home, qtbot)
    assert window.downloads.jobs  # back, paused
    page = _folders_page(window, qtbot)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    said = _refused(page.change_button, qtbot, elsewhere)
    assert "Finish or cancel the downloads" in said and "Scout-IQ1_S" in said
    assert str(home.models) in said
    assert window.chat.models_dir == home.models == window.downloads.models_dir
    assert page.models_edit.text() == str(home.models)
    assert not Settings(home.settings).get(MODELS_DIR)
    _close(window)


def test_a_chosen_folder_gone_at_a_start_leaves_the_default_and_says_so(
    home: AppPaths, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    gone = tmp_path / "usb-drive" / "models"
    Settings(home.settings).set(MODELS_DIR, str(gone))
    here = _model_into(home.models, smollm_path, "in-the-data-folder.gguf")
    # A download paused on that drive when the app quit.
    _paused_download(home, gone / "unsloth" / "Scout-IQ1_S.gguf")
    window = _open_window(home, qtbot)
    qtbot.waitUntil(lambda: "is not there" in window.statusBar().currentMessage(), timeout=5000)
    assert str(gone) in window.statusBar().currentMessage()
    assert window.chat.models_dir == home.models
    assert str(here) in {m.path for m in window.chat.models}
    assert not gone.exists()  # no folder made where the drive would be mounted
    assert Settings(home.settings).get(MODELS_DIR) == str(gone)  # used again once it is back
    # Its paused download waits for the drive: resumed here it would start again on this disk.
    assert not window.downloads.jobs
    # Default forgets the folder that is gone.
    page = _folders_page(window, qtbot)
    assert page.default_button.isEnabled()
    qtbot.mouseClick(page.default_button, Qt.MouseButton.LeftButton)
    assert Settings(home.settings).get(MODELS_DIR) == ""
    assert not page.default_button.isEnabled()
    _close(window)
