"""The compare window's model pickers: what each offers and shows, and the warning under it.

A model that failed to load last time is marked in every picker and never chosen for the user,
only by them; a cloud model is never chosen for them either (the prompt would leave the
computer without their choice). The window keeps which pickers the user chose themselves.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from desktop.core.models import CloudModel, LocalModel
from desktop.services.chat import ChatService
from desktop.ui.batch_dialog import FAILED_MARK
from desktop.ui.design import set_tone
from desktop.ui.fitting_combo import FittingCombo


def model_picker(parent: QWidget, index: int) -> tuple[FittingCombo, QLabel]:
    """Column ``index``'s picker, and the label under it that says why its model failed. A
    name longer than the picker is drawn cut with "…" (FittingCombo), whole in its tooltip."""
    picker = FittingCombo(parent)
    picker.setAccessibleName(f"Model for column {index + 1}")
    picker.setPlaceholderText("Choose a model…")
    # Long model names must not make the window wider than a laptop screen.
    picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    picker.setMinimumContentsLength(16)
    warning = QLabel(parent)
    warning.setObjectName(f"failedWarning{index}")
    warning.setWordWrap(True)
    warning.setTextFormat(Qt.TextFormat.PlainText)  # a reason is not markup
    set_tone(warning, "danger")
    warning.hide()
    return picker, warning


def fill_pickers(
    pickers: list[QComboBox], chat: ChatService, chosen: list[str], kept: set[int]
) -> list[str]:
    """Picker i shows chosen[i], unless that model failed to load last time and the user
    did not pick it there themselves (kept: the pickers they did). A picker left without a
    model gets the first local model not marked failed that no other picker shows, or stays
    empty: a cloud model is never chosen for the user (the prompt would leave the computer
    without their choice). Returns the failed models left out."""
    models = chat.all_models
    by_id = {m.id: m for m in models}
    errors = chat.model_errors()
    picks: list[str | None] = []
    left_out: list[str] = []
    for index in range(len(pickers)):
        model = by_id.get(chosen[index]) if index < len(chosen) else None
        if model is not None and failure_reason(model, errors) and index not in kept:
            left_out.append(model.name)
            model = None
        picks.append(model.id if model is not None else None)
    spare = [m.id for m in chat.models if not failure_reason(m, errors) and m.id not in picks]
    for index, pick in enumerate(picks):
        if pick is None and spare:
            picks[index] = spare.pop(0)
    for picker, pick in zip(pickers, picks, strict=True):
        picker.blockSignals(True)
        picker.clear()
        for model in models:
            failed = failure_reason(model, errors)
            prefix = "☁ " if isinstance(model, CloudModel) else ""
            picker.addItem(prefix + model.name + (FAILED_MARK if failed else ""), model.id)
            if isinstance(model, LocalModel):
                tip = f"{model.path}\n{failed}" if failed else model.path
                picker.setItemData(picker.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        picker.setCurrentIndex(picker.findData(pick) if pick is not None else -1)
        picker.blockSignals(False)
    return left_out


def show_warnings(
    pickers: list[QComboBox], warnings: list[QLabel], chat: ChatService, count: int
) -> None:
    """A chosen model that failed to load last time says so under its picker, with why; each
    picker's tooltip holds its whole entry (the picker may show it cut)."""
    by_id = {m.id: m for m in chat.all_models}
    for index, (picker, warning) in enumerate(zip(pickers, warnings, strict=True)):
        model = by_id.get(str(picker.currentData()))
        reason = chat.model_error(model) if model is not None else None
        warning.setText(f"⚠ Failed to load last time: {reason}" if reason else "")
        failed = f"\nFailed to load last time: {reason}" if reason else ""
        picker.setToolTip(picker.currentText() + failed if picker.currentIndex() >= 0 else "")
        warning.setVisible(bool(reason) and index < count)


def failure_reason(model: LocalModel | CloudModel, errors: dict[str, str]) -> str | None:
    """Why a local model failed to load last time (errors: the store's, by path)."""
    return errors.get(model.path) if isinstance(model, LocalModel) else None


def left_out_text(names: list[str]) -> str:
    listed = ", ".join(f"“{name}”" for name in names)
    return f"{listed} failed to load last time, so it is not chosen; choose it to try again."
