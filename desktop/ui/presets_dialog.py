"""Edit presets: a name, a system prompt and the sampling settings. Built-ins are read-only
(saving one under its own name asks for another name); the user's presets can be deleted."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import LlamasideError
from desktop.core.params import REASONING_EFFORTS, SamplingParams
from desktop.core.presets import Preset
from desktop.services.chat import ChatService
from desktop.ui.screen_fit import fit_to_screen


def _double(low: float, high: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    return box


class PresetsDialog(QDialog):
    """Edits presets through the chat service; built-ins are saved only as copies."""

    def __init__(self, chat: ChatService, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chat = chat
        self.setWindowTitle("Presets")
        self.setObjectName("presetsDialog")
        fit_to_screen(self, 560, 520)
        self.picker = QComboBox(self)
        self.picker.setAccessibleName("Preset to edit")
        self.picker.currentIndexChanged.connect(self._load)
        self.name_edit = QLineEdit(self)
        self.name_edit.setAccessibleName("Preset name")
        self.system_edit = QPlainTextEdit(self)
        self.system_edit.setAccessibleName("System prompt")
        self.system_edit.setPlaceholderText("Optional: how the model should behave")
        self.temperature = _double(0.0, 2.0, 0.05)
        self.top_p = _double(0.01, 1.0, 0.01)
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1000)
        self.min_p = _double(0.0, 1.0, 0.01)
        self.repeat_penalty = _double(0.5, 2.0, 0.01)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 1_000_000)
        self.reasoning_effort = QComboBox(self)
        for effort in REASONING_EFFORTS:
            self.reasoning_effort.addItem(effort.capitalize() or "The model's default", effort)
        self.reasoning_effort.setToolTip(
            "How hard reasoning models think before answering (OpenAI's o-series and GPT-5, "
            "gpt-oss): more is slower and costs more tokens. Other models ignore it."
        )
        self.thinking_budget = QSpinBox()
        self.thinking_budget.setRange(0, 1_000_000)
        self.thinking_budget.setSingleStep(1024)
        self.thinking_budget.setSpecialValueText("Off")
        self.thinking_budget.setSuffix(" tokens")
        self.thinking_budget.setToolTip(
            "Claude's extended thinking: tokens it may think for before answering (at least "
            "1,024; they are billed as output). Off: it answers at once."
        )
        for widget, name in (
            (self.temperature, "Temperature"),
            (self.top_p, "Top p"),
            (self.top_k, "Top k"),
            (self.min_p, "Min p"),
            (self.repeat_penalty, "Repeat penalty"),
            (self.max_tokens, "Max tokens"),
            (self.reasoning_effort, "Reasoning effort"),
            (self.thinking_budget, "Claude thinking budget"),
        ):
            widget.setAccessibleName(name)
        form = QFormLayout()
        form.addRow("Preset:", self.picker)
        form.addRow("Name:", self.name_edit)
        form.addRow("System prompt:", self.system_edit)
        form.addRow("Temperature:", self.temperature)
        form.addRow("Top p:", self.top_p)
        form.addRow("Top k (0: off):", self.top_k)
        form.addRow("Min p:", self.min_p)
        form.addRow("Repeat penalty:", self.repeat_penalty)
        form.addRow("Max tokens:", self.max_tokens)
        form.addRow("Reasoning effort:", self.reasoning_effort)
        form.addRow("Claude thinking:", self.thinking_budget)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.save_button = QPushButton("Save", self)
        self.save_button.clicked.connect(self.save)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.clicked.connect(self.delete)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        self._refresh(current)

    def _refresh(self, select: str) -> None:
        self.picker.blockSignals(True)
        self.picker.clear()
        for preset in self.chat.presets().all():
            label = f"{preset.name} (built in)" if preset.builtin else preset.name
            self.picker.addItem(label, preset.name)
        index = self.picker.findData(select)
        self.picker.setCurrentIndex(max(0, index))
        self.picker.blockSignals(False)
        self._load()

    @Slot()
    def _load(self) -> None:
        preset = self.chat.presets().get(str(self.picker.currentData()))
        if preset is None:
            return
        self.name_edit.setText(preset.name if not preset.builtin else f"{preset.name} (mine)")
        self.system_edit.setPlainText(preset.system_prompt)
        sampling = preset.sampling
        self.temperature.setValue(sampling.temperature)
        self.top_p.setValue(sampling.top_p)
        self.top_k.setValue(sampling.top_k)
        self.min_p.setValue(sampling.min_p)
        self.repeat_penalty.setValue(sampling.repeat_penalty)
        self.max_tokens.setValue(sampling.max_tokens)
        self.reasoning_effort.setCurrentIndex(
            max(0, self.reasoning_effort.findData(sampling.reasoning_effort))
        )
        self.thinking_budget.setValue(sampling.thinking_budget)
        self.delete_button.setEnabled(not preset.builtin)
        self.message.setText(
            "Built in: save your changes under another name." if preset.builtin else ""
        )

    def current_preset(self) -> Preset:
        return Preset(
            self.name_edit.text().strip(),
            self.system_edit.toPlainText(),
            SamplingParams(
                temperature=self.temperature.value(),
                top_p=self.top_p.value(),
                top_k=self.top_k.value(),
                min_p=self.min_p.value(),
                repeat_penalty=self.repeat_penalty.value(),
                max_tokens=self.max_tokens.value(),
                reasoning_effort=str(self.reasoning_effort.currentData()),
                thinking_budget=self.thinking_budget.value(),
            ),
        )

    @Slot()
    def save(self) -> None:
        try:
            preset = self.current_preset()
            self.chat.save_preset(preset)
        except LlamasideError as exc:
            self.message.setText(str(exc))
            return
        self._refresh(preset.name)
        self.message.setText(f"Saved “{preset.name}”.")

    @Slot()
    def delete(self) -> None:
        name = str(self.picker.currentData())
        try:
            self.chat.delete_preset(name)
        except LlamasideError as exc:
            self.message.setText(str(exc))
            return
        self._refresh("")
        self.message.setText(f"Deleted “{name}”.")
