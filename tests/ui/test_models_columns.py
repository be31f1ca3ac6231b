"""The model manager's tables give their room to the names: at the dialog's default size a long
model name is shown whole, and the short columns after it (RAM, Parts) are shown in full."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget
from pytestqt.qtbot import QtBot

from desktop.ui.main_window import MainWindow
from tests.conftest import SMOL_REPO
from tests.hubserver import HubServer

#: A real long name (bartowski prefixes the maker: meta-llama_).
LONG = "meta-llama_Llama-4-Scout-17B-16E-Instruct-Q4_K_M"


def _whole(table: QTableWidget, row: int, column: int) -> bool:
    """Whether the cell's text fits its column (nothing elided) inside the viewport."""
    item = table.item(row, column)
    assert item is not None
    header = table.horizontalHeader()
    needed = table.fontMetrics().horizontalAdvance(item.text())
    end = header.sectionViewportPosition(column) + header.sectionSize(column)
    return header.sectionSize(column) > needed and end <= table.viewport().width()


def test_a_long_file_name_and_its_parts_both_show_whole(
    window: MainWindow, qtbot: QtBot, smol_hub: HubServer, smollm_path: str
) -> None:
    smol_hub.state.add(SMOL_REPO, f"{LONG}.gguf", Path(smollm_path))
    window.models_action.trigger()
    dialog = window.models_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.machine is not None, timeout=30_000)
    dialog.tabs.setCurrentIndex(1)
    dialog.repo_edit.setText(SMOL_REPO)
    qtbot.mouseClick(dialog.files_button, Qt.MouseButton.LeftButton)
    table = dialog.files_table
    qtbot.waitUntil(lambda: table.rowCount() == 2, timeout=30_000)
    row = next(r for r in range(2) if table.item(r, 0).text() == LONG)  # type: ignore[union-attr]
    assert _whole(table, row, 0), "the long name is cut " + _debug(table) + str(dialog.size())
    assert _whole(table, row, 1) and _whole(table, row, 2), "Size or Parts is cut"
    # The fit table, with a recommendation's long reason: the verdicts give up room (their
    # tooltips say it all); publisher, quant, GPU and RAM show in full.
    dialog.tabs.setCurrentIndex(0)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("llama-3.2-3b-instruct"))
    fits = dialog.fit_table
    assert fits.rowCount() > 0
    for r in range(fits.rowCount()):
        for column in (0, 1, 4, 5):
            assert _whole(fits, r, column), f"column {column} of row {r} is cut " + _debug(fits)
    # The models on this computer: the model's id and whether it sees images, in full.
    dialog.tabs.setCurrentIndex(3)
    local = dialog.local_table
    for r in range(local.rowCount()):
        assert _whole(local, r, 0) and _whole(local, r, 4), _debug(local)


def _debug(table: QTableWidget) -> str:
    h = table.horizontalHeader()
    return f"vp={table.viewport().width()} sections={[h.sectionSize(c) for c in range(h.count())]}"
