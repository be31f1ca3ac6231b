"""Load settings for one model file: context, GPU layers, experts kept in RAM, KV cache type,
threads, flash attention and a draft model, beside the fit planner's view of them on this machine.

Opened from the model manager's row menu ("Load settings…") and from Model → "Load settings for
this model…" (install_model_settings). What differs from the recommended values is saved for the
file (services.model_settings) and applies at its next load; "Save and reload now" loads it again
at once when it is the model loaded now.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import InvalidParameter, LlamasideError
from desktop.core.fit import Fit, Verdict, kv_bytes_of
from desktop.core.models import LocalModel, human_size
from desktop.core.params import LoadParams
from desktop.services.chat import ChatService
from desktop.ui.design import set_tone
from desktop.ui.icon_set import set_icon

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

#: The KV cache types as the list names them.
_KV_LABELS = (
    ("f16", "f16 (full size)"),
    ("q8_0", "q8_0 (about half the memory)"),
    ("q4_0", "q4_0 (about a quarter)"),
)
_FLASH_LABELS = (("Auto", None), ("On", True), ("Off", False))


def _spin(name: str, low: int, high: int, suffix: str, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setAccessibleName(name)
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setSuffix(suffix)
    box.setGroupSeparatorShown(True)
    return box


class ModelSettingsDialog(QDialog):
    """The load settings of one model file, the planner's advice beside them, and the
    inline sentence saying why a combination cannot load.

    Attributes:
        model: the model whose settings these are.
        recommended: what it loads with when the user sets nothing.
        error_label: why the values cannot be used ("" when they can).
        advice_label: the fit planner's recommendation and whether this choice fits.
        kv_label: the KV cache's memory at this context and type.
    """

    def __init__(self, chat: ChatService, model: LocalModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelSettingsDialog")
        self.setWindowTitle(f"Load settings — {model.name}")
        self.chat = chat
        self.model = model
        self.recommended, self._planned = chat.recommended_load_params(model)
        self._arch = chat.model_architecture(model)
        layers = self._arch.layers if self._arch is not None else 999
        self.ctx_spin = _spin("Context size", 256, 10_485_760, " tokens", 1024)
        self.gpu_spin = _spin("GPU layers", -1, layers, " layers")
        self.gpu_spin.setSpecialValueText("All layers")
        self.moe_spin = _spin("Expert layers kept in RAM", 0, layers, " layers")
        self.threads_spin = _spin("Threads", 1, 512, " threads")
        self.kv_combo = QComboBox()
        self.kv_combo.setAccessibleName("KV cache type")
        for value, label in _KV_LABELS:
            self.kv_combo.addItem(label, value)
        self.flash_combo = QComboBox()
        self.flash_combo.setAccessibleName("Flash attention")
        for label, flash in _FLASH_LABELS:
            self.flash_combo.addItem(label, flash)
        self.draft_combo = QComboBox()
        self.draft_combo.setAccessibleName("Draft model")
        self.draft_combo.addItem("None (as in Preferences)", "")
        others = [m for m in chat.models if m.path != model.path]
        for other in sorted(others, key=lambda m: m.size_bytes):
            self.draft_combo.addItem(f"{other.name} ({human_size(other.size_bytes)})", other.path)
        self.draft_combo.setToolTip(
            "Speculative decoding: a small model of the same family (the same vocabulary) "
            "guesses the next tokens and this model checks several at once. The answer is "
            "the same; it comes sooner where the two agree."
        )
        self.kv_label = QLabel()
        self.kv_label.setObjectName("kvCacheCost")
        self.advice_label = QLabel()
        self.advice_label.setObjectName("loadAdvice")
        self.advice_label.setWordWrap(True)
        self.advice_label.setTextFormat(Qt.TextFormat.RichText)
        self.error_label = QLabel()
        self.error_label.setObjectName("loadSettingsError")
        self.error_label.setWordWrap(True)
        set_tone(self.error_label, "danger")
        self.error_label.hide()

        form = QFormLayout()
        ctx_row = QHBoxLayout()
        ctx_row.addWidget(self.ctx_spin)
        ctx_row.addWidget(self.kv_label, 1)
        ctx_label = QLabel("&Context size:")
        ctx_label.setBuddy(self.ctx_spin)
        form.addRow(ctx_label, ctx_row)
        form.addRow("&KV cache type:", self.kv_combo)
        form.addRow("&GPU layers:", self.gpu_spin)
        form.addRow("&Experts in RAM:", self.moe_spin)
        form.addRow("&Threads:", self.threads_spin)
        form.addRow("&Flash attention:", self.flash_combo)
        form.addRow("&Draft model:", self.draft_combo)
        self.moe_spin.setToolTip(
            "Mixture-of-experts models: keep the experts of the first N layers in system RAM "
            "(llama.cpp's --n-cpu-moe), so the rest fits the GPU. 0: none."
        )
        if self._arch is not None and not self._arch.is_moe:
            self.moe_spin.setEnabled(False)  # a dense model has no experts to move
            self.moe_spin.setToolTip("This model has no experts (it is not a mixture of experts).")
        self.flash_combo.setToolTip(
            "Auto: on where attention runs on a GPU, off on a CPU. A q8_0 or q4_0 KV cache "
            "needs it on or auto."
        )

        self.reset_button = QPushButton("&Reset to recommended")
        self.save_button = QPushButton("&Save")
        self.save_button.setDefault(True)
        self.reload_button = QPushButton("Save and reload &now")
        self.reload_button.setVisible(chat.loaded_model_path() == model.path)
        cancel = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.reload_button)
        buttons.addWidget(self.save_button)
        note = QLabel(f"For {html.escape(model.name)}: saved settings apply at its next load.")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.advice_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addLayout(buttons)

        self._show(chat.load_params_for(model)[0])
        for box in (self.ctx_spin, self.gpu_spin, self.moe_spin, self.threads_spin):
            box.valueChanged.connect(self._refresh)
        for combo in (self.kv_combo, self.flash_combo, self.draft_combo):
            combo.currentIndexChanged.connect(self._refresh)
        self.reset_button.clicked.connect(self.reset)
        self.save_button.clicked.connect(self.save)
        self.reload_button.clicked.connect(self.save_and_reload)
        cancel.clicked.connect(self.reject)
        self._refresh()
        self.resize(max(self.sizeHint().width(), 560), self.sizeHint().height())

    def _show(self, params: LoadParams) -> None:
        widgets = (self.ctx_spin, self.gpu_spin, self.moe_spin, self.threads_spin)
        combos = (self.kv_combo, self.flash_combo, self.draft_combo)
        for box in (*widgets, *combos):
            box.blockSignals(True)
        self.ctx_spin.setValue(params.n_ctx)
        self.gpu_spin.setValue(params.n_gpu_layers)
        self.moe_spin.setValue(params.n_cpu_moe)
        self.threads_spin.setValue(params.n_threads or self.threads_spin.minimum())
        self.kv_combo.setCurrentIndex(max(0, self.kv_combo.findData(params.kv_cache_type)))
        flash = [f for _, f in _FLASH_LABELS].index(params.flash_attn)
        self.flash_combo.setCurrentIndex(flash)
        drafting = params.draft_model if params.speculative == "draft" else ""
        self.draft_combo.setCurrentIndex(max(0, self.draft_combo.findData(drafting)))
        for box in (*widgets, *combos):
            box.blockSignals(False)

    def chosen(self) -> dict[str, Any]:
        """The values on screen that differ from the recommended ones (what is saved)."""
        values: dict[str, Any] = {
            "n_ctx": self.ctx_spin.value(),
            "n_gpu_layers": self.gpu_spin.value(),
            "n_cpu_moe": self.moe_spin.value(),
            "kv_cache_type": str(self.kv_combo.currentData()),
            "n_threads": self.threads_spin.value(),
            "flash_attn": self.flash_combo.currentData(),
        }
        base = self.recommended.to_dict()
        draft = str(self.draft_combo.currentData() or "")
        values["draft_model"] = draft
        values["speculative"] = "draft" if draft else base["speculative"]
        return {k: v for k, v in values.items() if v != base.get(k)}

    def params(self) -> LoadParams:
        """The load parameters on screen; InvalidParameter says why they cannot load."""
        return LoadParams.from_dict({**self.recommended.to_dict(), **self.chosen()})

    @Slot()
    def _refresh(self) -> None:
        """The KV cache's cost, the planner's advice and any problem, for the values now."""
        n_ctx, kv_type = self.ctx_spin.value(), str(self.kv_combo.currentData())
        if self._arch is not None:
            cost = human_size(kv_bytes_of(self._arch, n_ctx, kv_type))
            self.kv_label.setText(f"KV cache: {cost} at {kv_type}")
        else:
            self.kv_label.setText("KV cache: unknown (the file does not give the model's shape)")
        try:
            params = self.params()
        except InvalidParameter as exc:
            self._problem(str(exc))
            params = None
        else:
            self._problem("")
        fit = self.chat.load_advice(self.model, n_ctx, kv_type, self._arch)
        self.advice_label.setText(self._advice(fit, params))

    def _advice(self, fit: Fit | None, params: LoadParams | None) -> str:
        rec = self.recommended
        gpu = "all" if rec.n_gpu_layers == -1 else str(rec.n_gpu_layers)
        moe = self.moe_spin.isEnabled() or rec.n_cpu_moe
        experts = f", experts of {rec.n_cpu_moe} layers in RAM" if moe else ""
        planned = f" ({html.escape(self._planned)})" if self._planned else ""
        lines = [
            f"<b>Recommended here:</b> context {rec.n_ctx:,} tokens, GPU layers {gpu}"
            f"{experts}{planned}."
        ]
        if fit is None:
            lines.append("The fit planner cannot tell how this model fits (no shape in its file).")
            return "<br/>".join(lines)
        verdict = html.escape(fit.describe())
        need = human_size(fit.total_bytes)
        if fit.verdict == Verdict.NO_FIT:
            lines.append(f"<b>At this context it does not fit:</b> it needs about {need}.")
        else:
            lines.append(f"At this context and KV cache it {verdict} (about {need}).")
        if params is not None:
            if fit.verdict == Verdict.PARTIAL_GPU and (
                params.n_gpu_layers == -1 or params.n_gpu_layers > fit.n_gpu_layers
            ):
                lines.append(
                    f"<b>More GPU layers than fit</b> ({fit.n_gpu_layers}): the load may run "
                    "out of GPU memory."
                )
            if fit.verdict == Verdict.EXPERTS_IN_RAM and params.n_cpu_moe < fit.n_cpu_moe:
                lines.append(
                    f"<b>Fewer expert layers in RAM than needed</b> ({fit.n_cpu_moe}): the "
                    "load may run out of GPU memory."
                )
        return "<br/>".join(lines)

    def _problem(self, text: str) -> None:
        self.error_label.setText(f"⚠ {text[:1].upper()}{text[1:]}." if text else "")
        self.error_label.setVisible(bool(text))
        self.save_button.setEnabled(not text)
        self.reload_button.setEnabled(not text)

    @Slot()
    def reset(self) -> None:
        """Back to the recommended values, and nothing kept for the model."""
        self.chat.model_settings().reset(self.model.path)
        self._show(self.recommended)
        self._refresh()

    @Slot()
    def save(self) -> bool:
        """Keep the values that differ from the recommended ones; say why when they cannot."""
        try:
            self.chat.model_settings().save(self.model.path, self.chosen())
        except InvalidParameter as exc:
            self._problem(str(exc))
            return False
        self.accept()
        return True

    @Slot()
    def save_and_reload(self) -> None:
        if not self.save():
            return
        try:
            self.chat.reload_model(self.model)
        except LlamasideError as exc:
            QMessageBox.information(self.parentWidget(), "Load settings", str(exc))


def open_model_settings(
    chat: ChatService, model: LocalModel, parent: QWidget | None = None
) -> ModelSettingsDialog:
    """Show the model's load settings (a window-modal dialog that deletes itself on close)."""
    dialog = ModelSettingsDialog(chat, model, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.show()
    return dialog


def install_model_settings(window: MainWindow) -> QAction:
    """Model → "Load settings for this model…": the settings of the chat's local model."""
    existing = getattr(window, "model_settings_action", None)
    if isinstance(existing, QAction):
        return existing
    action = QAction("&Load settings for this model…", window)
    action.setObjectName("modelSettingsAction")
    set_icon(action, "presets")  # the same tuning mark as the chat's presets
    action.setStatusTip("Context size, GPU layers, KV cache type and more for the chat's model")

    def current() -> LocalModel | None:
        model = window.chat.model_of(window.conversation_id)
        return model if isinstance(model, LocalModel) else None

    def show() -> None:
        model = current()
        if model is None:
            QMessageBox.information(
                window,
                "Load settings",
                "This chat's model is a cloud model: it has no load settings.",
            )
            return
        open_model_settings(window.chat, model, window)

    action.triggered.connect(show)
    models = window.menus.models_action
    menu = next((m for m in window.menuBar().findChildren(QMenu) if models in m.actions()), None)
    if menu is not None:
        menu.insertAction(window.menus.open_model_action, action)
        menu.aboutToShow.connect(lambda: action.setEnabled(current() is not None))
    window.model_settings_action = action  # type: ignore[attr-defined]
    return action
