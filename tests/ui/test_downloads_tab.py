"""The model manager's Downloads tab, offscreen, driven as a user does against our loopback hub:
what each download says, which buttons apply to the chosen one, the row's own context menu,
and the CPU-only fit recommendation row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.backends.hub import Hub, group_files
from desktop.core.catalog import GB
from desktop.core.fit import Machine
from desktop.services.downloads import JobState
from desktop.storage.paths import AppPaths
from desktop.ui.downloads_tab import DownloadsTab
from desktop.ui.main_window import MainWindow
from desktop.ui.models_dialog import ModelsDialog
from tests.conftest import SMOL_FILE as FILE
from tests.conftest import SMOL_REPO as REPO
from tests.hubserver import HubServer

OTHER_REPO = "test-org/Other-GGUF"
OTHER_FILE = "Other-Q4_1.gguf"


@pytest.fixture
def hub(smol_hub: HubServer, smollm_path: str) -> HubServer:
    smol_hub.state.add(OTHER_REPO, OTHER_FILE, Path(smollm_path))
    return smol_hub


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot) -> Iterator[MainWindow]:
    win = build_window(home)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    win.chat.store.close()


def open_downloads(window: MainWindow, qtbot: QtBot) -> tuple[ModelsDialog, DownloadsTab]:
    window.models_action.trigger()
    dialog = window.models_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.machine is not None, timeout=30_000)
    dialog.tabs.setCurrentWidget(dialog.downloads_tab)
    return dialog, dialog.downloads_tab


def enabled(tab: DownloadsTab) -> set[str]:
    return {action for action, button in tab.buttons.items() if button.isEnabled()}


def row_of(tab: DownloadsTab, name: str) -> int:
    rows = [r for r in range(tab.table.rowCount()) if tab.table.item(r, 0).text() == name]  # type: ignore[union-attr]
    assert len(rows) == 1, f"{name} should be listed once"
    return rows[0]


def status(tab: DownloadsTab, name: str) -> str:
    return tab.table.item(row_of(tab, name), 2).text()  # type: ignore[union-attr]


def click_row(qtbot: QtBot, tab: DownloadsTab, name: str) -> None:
    item = tab.table.item(row_of(tab, name), 0)
    assert item is not None
    center = tab.table.visualItemRect(item).center()
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=center)


def context_menu(qtbot: QtBot, tab: DownloadsTab, name: str, choose: str) -> dict[str, bool]:
    """Right-click the row, read the menu (label: enabled) and choose one entry by keyboard."""
    seen: dict[str, bool] = {}

    def answer() -> None:
        popup = QApplication.activePopupWidget()
        if not isinstance(popup, QMenu):
            QTimer.singleShot(20, answer)
            return
        seen.update({a.text(): a.isEnabled() for a in popup.actions()})
        chosen = next(a for a in popup.actions() if a.text() == choose)
        popup.setActiveAction(chosen)
        qtbot.keyClick(popup, Qt.Key.Key_Return)

    item = tab.table.item(row_of(tab, name), 2)
    assert item is not None
    pos = tab.table.visualItemRect(item).center()
    viewport = tab.table.viewport()
    QTimer.singleShot(0, answer)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos))
    QApplication.sendEvent(viewport, event)
    assert seen, "the row's context menu should have opened"
    return seen


def answer_box(button_text: str, tries: int = 250) -> Callable[[], None]:
    """Click a button of the message box once it is up (gives up after tries x 20 ms)."""
    left = [tries]

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            left[0] -= 1
            if left[0] > 0:
                QTimer.singleShot(20, answer)
            return
        button = next(b for b in box.buttons() if b.text() == button_text)
        assert isinstance(button, QPushButton)
        button.click()

    return answer


def test_an_empty_tab_says_so_and_offers_nothing(window: MainWindow, qtbot: QtBot) -> None:
    dialog, tab = open_downloads(window, qtbot)
    assert tab.empty_label.isVisibleTo(dialog)
    assert not tab.table.isVisibleTo(dialog)
    assert "No downloads yet" in tab.empty_label.text()
    assert "Llama models" in tab.empty_label.text() and "Hugging Face" in tab.empty_label.text()
    assert enabled(tab) == set()


def test_buttons_and_menu_follow_the_chosen_download_across_refreshes(
    window: MainWindow, qtbot: QtBot, hub: HubServer
) -> None:
    hub.state.file(REPO, FILE).faults.rate = 5_000_000
    hub.state.file(OTHER_REPO, OTHER_FILE).faults.rate = 5_000_000
    downloads = window.downloads
    dialog, tab = open_downloads(window, qtbot)
    smol = downloads.start(REPO, group_files(Hub().gguf_files(REPO))[0])
    smol_name = downloads.jobs[smol].group.name
    assert tab.table.isVisibleTo(dialog) and not tab.empty_label.isVisibleTo(dialog)
    assert enabled(tab) == set()  # listed, but nothing chosen yet
    click_row(qtbot, tab, smol_name)
    assert enabled(tab) == {"pause", "cancel"}

    # A second download arrives (the table is rebuilt) and progress streams in: the chosen
    # row stays the chosen row.
    other = downloads.start(OTHER_REPO, group_files(Hub().gguf_files(OTHER_REPO))[0])
    other_name = downloads.jobs[other].group.name
    qtbot.waitUntil(lambda: downloads.jobs[smol].done > 1_000_000, timeout=30_000)
    assert tab.table.rowCount() == 2
    assert tab.selected_job() == smol
    assert "Downloading" in status(tab, smol_name)

    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: downloads.jobs[smol].state == JobState.PAUSED, timeout=10_000)
    assert status(tab, smol_name).startswith("Paused")
    assert enabled(tab) == {"resume", "cancel"}
    assert tab.resume_button.text() == "Resume"

    # The menu acts on the row right-clicked, not the one chosen before, and chooses it.
    seen = context_menu(qtbot, tab, other_name, "Pause")
    assert seen == {"Pause": True, "Resume": False, "Cancel…": True, "Remove from list": False}
    assert tab.selected_job() == other
    qtbot.waitUntil(lambda: downloads.jobs[other].state == JobState.PAUSED, timeout=10_000)
    assert downloads.jobs[smol].state == JobState.PAUSED

    click_row(qtbot, tab, smol_name)
    QTimer.singleShot(0, answer_box("Delete it"))
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    assert smol not in downloads.jobs
    assert [tab.table.item(r, 0).text() for r in range(tab.table.rowCount())] == [other_name]  # type: ignore[union-attr]
    assert tab.note.text() == f"Cancelled {smol_name}; its partial file was deleted."
    assert enabled(tab) == set()  # its row went; nothing is chosen


def test_a_failed_download_is_listed_with_why_and_can_be_retried_then_removed(
    window: MainWindow, qtbot: QtBot, hub: HubServer
) -> None:
    hub.state.file(REPO, FILE).faults.statuses = [404]
    dialog, tab = open_downloads(window, qtbot)
    dialog.tabs.setCurrentIndex(1)
    dialog.repo_edit.setText(REPO)
    qtbot.mouseClick(dialog.files_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.files_table.rowCount() == 1, timeout=30_000)
    dialog.files_table.selectRow(0)
    with qtbot.waitSignal(window.downloads.job_failed, timeout=30_000):
        qtbot.mouseClick(dialog.download_file_button, Qt.MouseButton.LeftButton)
    name = FILE.removesuffix(".gguf")
    assert dialog.tabs.currentWidget() is tab and tab.selected_job() is not None
    text = status(tab, name)
    assert text == f"Failed: {FILE} is not on the hub any more (HTTP 404)."
    assert tab.table.item(row_of(tab, name), 2).toolTip() == text  # type: ignore[union-attr]
    assert enabled(tab) == {"resume", "remove"}
    assert tab.resume_button.text() == "Retry"

    with qtbot.waitSignal(window.downloads.job_finished, timeout=60_000) as finished:
        qtbot.mouseClick(tab.resume_button, Qt.MouseButton.LeftButton)
    assert finished.args is not None
    path = finished.args[1]
    assert status(tab, name) == f"Verified — ready to chat · saved as {path}"
    assert enabled(tab) == {"remove"}

    seen = context_menu(qtbot, tab, name, "Remove from list")
    assert seen["Remove from list"] and not seen["Pause"] and not seen["Cancel…"]
    assert tab.table.rowCount() == 0 and tab.empty_label.isVisibleTo(dialog)
    assert tab.note.text() == f"Removed {name} from the list; the model stays."
    assert Path(path).exists()


def test_a_catalog_quant_the_hub_lacks_is_a_failed_download(
    window: MainWindow, qtbot: QtBot, hub: HubServer
) -> None:
    dialog, tab = open_downloads(window, qtbot)
    dialog.tabs.setCurrentIndex(0)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("llama-3.2-3b-instruct"))
    dialog.fit_table.selectRow(0)
    QTimer.singleShot(0, answer_box("&Yes", tries=50))  # if this machine is too small for it
    with qtbot.waitSignal(window.downloads.job_failed, timeout=30_000):
        qtbot.mouseClick(dialog.download_quant_button, Qt.MouseButton.LeftButton)
    assert dialog.tabs.currentWidget() is tab
    name = "Llama 3.2 3B Instruct Q4_K_M"
    assert status(tab, name).startswith("Failed: ")
    assert "bartowski/Llama-3.2-3B-Instruct-GGUF" in status(tab, name)
    assert tab.selected_job() is not None and enabled(tab) == {"resume", "remove"}


def test_cpu_only_row_recommends_q4_k_m_and_says_why(window: MainWindow, qtbot: QtBot) -> None:
    dialog, _tab = open_downloads(window, qtbot)
    # The machine: CPU only, no GPU, 16 GB: both 3B quants run.
    dialog.machine = Machine(
        system="Linux", ram_total=16 * GB, ram_available=12 * GB, disk_free=100 * GB
    )
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("llama-3.2-3b-instruct"))
    table = dialog.fit_table
    rows = {table.item(r, 1).text(): table.item(r, 3).text() for r in range(table.rowCount())}  # type: ignore[union-attr]
    assert rows["Q8_0"] == "CPU only (slow)"
    assert rows["Q4_K_M"] == (
        "CPU only (slow)  ★ recommended: Q4_K_M answers about 1.7× faster than Q8_0 here, "
        "at near the same quality"
    )
    assert "Recommended:</b> bartowski Q4_K_M — runs on the CPU only" in dialog.advice_label.text()
