"""Vision projectors in the window, offscreen, driven as a user does: Open GGUF with a model and
its projector picked together (or a projector alone, then its model), the picker's tooltip
saying the model sees, and the model manager's row menu adding and removing a projector."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMenu, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from desktop.ui.main_window import MainWindow
from tests.backends.projector_files import write_projector
from tests.ui.driving import answer_modal, file_dialog_answer


def pick_files(*paths: Path) -> Callable[[QWidget], None]:
    """An answer for a multi-select file dialog: the files typed in quotes, then Open."""

    def answer(widget: QWidget) -> None:
        assert isinstance(widget, QFileDialog), widget
        widget.setDirectory(str(paths[0].parent))
        edit = widget.findChild(QLineEdit, "fileNameEdit")
        assert edit is not None
        edit.setText(" ".join(f'"{p.name}"' for p in paths))
        widget.accept()

    return answer


def model_and_projectors(tmp_path: Path, smollm_path: str) -> tuple[Path, Path, Path]:
    """A real model with two projectors beside it: by folder it would take the F16 one."""
    folder = tmp_path / "mine"
    folder.mkdir()
    model = folder / "Seeing.gguf"
    shutil.copyfile(smollm_path, model)
    f16 = write_projector(folder / "mmproj-a-f16.gguf")
    q8 = write_projector(folder / "mmproj-z-Q8_0.gguf")
    return model, f16, q8


def tooltip_of(window: MainWindow, model_id: str) -> str:
    picker = window.model_picker
    return str(picker.itemData(picker.findData(model_id), Qt.ItemDataRole.ToolTipRole))


def test_open_gguf_with_a_model_and_its_projector_picked_together(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    model, _f16, q8 = model_and_projectors(tmp_path, smollm_path)
    failures = answer_modal(pick_files(model, q8), QFileDialog)
    window.open_model_action.trigger()
    assert not failures, failures
    added = next(m for m in window.chat.models if m.path == str(model))
    assert added.mmproj == str(q8)  # the one picked, not the one the folder rule prefers
    assert window.model_picker.currentData() == added.id
    assert "👁" in window.model_picker.currentText()
    assert f"Sees images (vision projector {q8.name})" in tooltip_of(window, added.id)
    assert window.chat.store.user_models() == [str(model)]
    assert window.chat.store.model_projectors() == {str(model): str(q8)}


def test_a_projector_alone_is_said_to_be_one_and_its_model_asked_for(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    model, _f16, q8 = model_and_projectors(tmp_path, smollm_path)
    said: list[str] = []
    chained: list[str] = []

    def answer_box(widget: QWidget) -> None:
        assert isinstance(widget, QMessageBox), widget
        said.append(widget.text())
        chained.extend(answer_modal(file_dialog_answer(model), QFileDialog))
        widget.accept()

    failures = answer_modal(pick_files(q8), QFileDialog)
    failures += answer_modal(answer_box, QMessageBox)
    window.open_model_action.trigger()
    qtbot.waitUntil(lambda: any(m.path == str(model) for m in window.chat.models))
    assert not failures and not chained, (failures, chained)
    assert said and "is a vision projector (mmproj)" in said[0] and "not a model" in said[0]
    added = next(m for m in window.chat.models if m.path == str(model))
    assert added.mmproj == str(q8)


def test_the_model_managers_row_menu_adds_and_removes_a_projector(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    window.models_action.trigger()
    dialog = window.models_dialog
    assert dialog is not None
    dialog.tabs.setCurrentIndex(3)
    table = dialog.local_table
    qtbot.waitUntil(lambda: table.rowCount() > 0)
    bundled = next(m for m in window.chat.models if m.source == "bundled")
    assert bundled.mmproj == ""
    assert table.item(0, 4).text() == "–"  # type: ignore[union-attr]
    projector = write_projector(tmp_path / "mmproj-Smol-f16.gguf")

    def open_menu() -> QMenu:
        viewport = table.viewport()
        first = table.item(0, 0)
        assert first is not None
        at = table.visualItemRect(first).center()
        event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at, viewport.mapToGlobal(at))
        QApplication.sendEvent(viewport, event)
        menu = dialog.findChild(QMenu, "localModelMenu")
        assert menu is not None
        qtbot.waitUntil(menu.isVisible)
        return menu

    def action(menu: QMenu, text: str) -> None:
        found = next(a for a in menu.actions() if a.text() == text)
        assert found.isEnabled(), text
        menu.close()
        found.trigger()
        menu.deleteLater()

    menu = open_menu()
    assert not next(a for a in menu.actions() if "Remove" in a.text()).isEnabled()
    failures = answer_modal(file_dialog_answer(projector), QFileDialog)
    action(menu, "Add vision projector…")
    assert not failures, failures
    bundled = next(m for m in window.chat.models if m.source == "bundled")
    assert bundled.mmproj == str(projector)
    assert table.item(0, 4).text() == "👁 vision"  # type: ignore[union-attr]
    assert "sees images with mmproj-Smol-f16.gguf" in dialog.import_note.text()
    qtbot.wait(10)  # the first menu goes (deleteLater) before the next is looked for
    action(open_menu(), "Remove vision projector")
    bundled = next(m for m in window.chat.models if m.source == "bundled")
    assert bundled.mmproj == ""
    assert table.item(0, 4).text() == "–"  # type: ignore[union-attr]

    # A model file offered as a projector is refused with the reason; nothing changes.
    not_one = tmp_path / "plain.gguf"
    shutil.copyfile(bundled.path, not_one)
    qtbot.wait(10)
    failures = answer_modal(file_dialog_answer(not_one), QFileDialog)
    action(open_menu(), "Add vision projector…")
    assert not failures, failures
    assert "is not a vision projector" in dialog.import_note.text()
    assert next(m for m in window.chat.models if m.source == "bundled").mmproj == ""
