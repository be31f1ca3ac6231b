"""Preferences → Engine: what the next local model load uses by default: its context size (with
the memory each 1k tokens of it takes, where the fit planner knows the model), the CPU threads,
the layers put on the GPU and speculative decoding. Saved as the "n_ctx", "n_threads",
"n_gpu_layers" and "speculative" settings and handed to the chat service's load parameters at
once; a model already loaded keeps its own until it is loaded again."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from desktop.core.params import MIN_USER_CTX
from desktop.services.chat import ChatService
from desktop.ui.prefs_pages import LABEL_WIDTH, add_field, note_label, page_layout

#: The settings this page writes.
N_CTX, N_THREADS, N_GPU_LAYERS = "n_ctx", "n_threads", "n_gpu_layers"
SPECULATIVE = "speculative"
#: Speculative decoding's choices, as LoadParams.speculative names them.
SPECULATIVE_CHOICES = (
    ("auto", "Automatic"),
    ("off", "Off"),
    ("lookup", "Prompt lookup (drafts from the conversation)"),
)
SPECULATIVE_NOTE = (
    "Prompt lookup guesses the next tokens from the text already in the chat and checks "
    "them in one step: faster when the answer repeats it (editing code). With flash "
    "attention off (the CPU default) a greedy answer can differ from plain decoding's at a "
    "near tie. Automatic drafts only while it measures faster on this computer, answer by "
    "answer, and never in a greedy answer it could change."
)
#: What ChatService loads with when "n_ctx" was never set.
DEFAULT_N_CTX = 4096
MIN_CTX, MAX_CTX, CTX_STEP = MIN_USER_CTX, 1_048_576, 1024
GPU_NOTE = (
    "0 runs on the CPU only. Models downloaded from the catalog are planned for this machine "
    "instead (Models and downloads shows the plan). Without a GPU backend it has no effect."
)
#: The most GPU layers offered by number (more than any model has; -1 means all of them).
MOST_LAYERS = 999


def _int_setting(chat: ChatService, key: str, default: int) -> int:
    value = chat.settings.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def apply_engine_defaults(chat: ChatService, automatic_threads: int) -> None:
    """The saved engine defaults become the chat service's load parameters (the next load's).
    ``automatic_threads``: what "Automatic" means (the service's own choice at start)."""
    saved = chat.settings.load_defaults(automatic_threads)  # the command line's too
    chat.load_params = replace(
        chat.load_params,
        n_ctx=saved.n_ctx,
        n_threads=saved.n_threads,
        n_gpu_layers=saved.n_gpu_layers,
        speculative=saved.speculative,
    )


def kv_note(chat: ChatService, n_ctx: int) -> str:
    """The memory the context takes for the model new chats start on, when its shape is known
    (the catalog's, or its file header's); else what the number means."""
    model = chat.default_model
    shape = chat.model_architecture(model) if model is not None else None
    if model is None or shape is None:
        return (
            "Each 1k tokens of context takes memory (the KV cache) on top of the model; how "
            "much depends on the model. Larger contexts let chats run longer."
        )
    per_token = shape.kv_bytes_per_token()
    per_k = per_token * 1024 / 2**20
    total = per_token * n_ctx / 2**20
    return (
        f"For {model.name}: about {per_k:,.0f} MB per 1k tokens (f16 KV cache), so "
        f"{total:,.0f} MB at {n_ctx:,} tokens, on top of the model itself."
    )


class EnginePage(QWidget):
    """Owns the engine defaults' controls; each change is saved and applied at once."""

    def __init__(
        self, chat: ChatService, automatic_threads: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("enginePage")
        self.chat = chat
        self.automatic_threads = automatic_threads
        intro = QLabel(
            "Defaults for local models. They apply the next time a model is loaded: a model "
            "already loaded keeps its settings until Model → Unload model or another model.",
            self,
        )
        intro.setWordWrap(True)
        self.ctx_spin = QSpinBox(self)
        self.ctx_spin.setAccessibleName("Context size in tokens")
        self.ctx_spin.setRange(MIN_CTX, MAX_CTX)
        self.ctx_spin.setSingleStep(CTX_STEP)
        self.ctx_spin.setSuffix(" tokens")
        self.ctx_spin.setGroupSeparatorShown(True)
        self.kv_label = note_label("", self)
        self.kv_label.setAccessibleName("Memory the context takes")
        self.threads_spin = QSpinBox(self)
        self.threads_spin.setAccessibleName("CPU threads")
        self.threads_spin.setRange(0, 512)
        self.threads_spin.setSpecialValueText(f"Automatic ({automatic_threads}, the CPU's cores)")
        self.gpu_spin = QSpinBox(self)
        self.gpu_spin.setAccessibleName("Layers on the GPU")
        self.gpu_spin.setRange(-1, MOST_LAYERS)
        self.gpu_spin.setSpecialValueText("All that fit (as many as the backend takes)")
        self.speculative_combo = QComboBox(self)
        self.speculative_combo.setAccessibleName("Speculative decoding")
        for mode, text in SPECULATIVE_CHOICES:
            self.speculative_combo.addItem(text, mode)
        layout = page_layout(self)
        layout.addWidget(intro)
        add_field(layout, "Context size:", self.ctx_spin)
        indented = QHBoxLayout()
        indented.addSpacing(LABEL_WIDTH + indented.spacing())
        indented.addWidget(self.kv_label, 1)
        layout.addLayout(indented)
        add_field(layout, "CPU threads:", self.threads_spin)
        add_field(layout, "GPU layers:", self.gpu_spin, GPU_NOTE)
        add_field(layout, "Speculative decoding:", self.speculative_combo, SPECULATIVE_NOTE)
        layout.addStretch(1)
        self._show()
        self.ctx_spin.valueChanged.connect(self._on_ctx)
        self.threads_spin.valueChanged.connect(self._on_threads)
        self.gpu_spin.valueChanged.connect(self._on_gpu)
        self.speculative_combo.currentIndexChanged.connect(self._on_speculative)

    def showEvent(self, event: QShowEvent) -> None:
        """The default model may have changed since the page was built."""
        super().showEvent(event)
        self.kv_label.setText(kv_note(self.chat, self.ctx_spin.value()))

    def _show(self) -> None:
        self.ctx_spin.setValue(_int_setting(self.chat, N_CTX, DEFAULT_N_CTX))
        self.threads_spin.setValue(_int_setting(self.chat, N_THREADS, 0))
        self.gpu_spin.setValue(_int_setting(self.chat, N_GPU_LAYERS, -1))
        self.speculative_combo.setCurrentIndex(
            self.speculative_combo.findData(self.chat.settings.speculative())
        )
        self.kv_label.setText(kv_note(self.chat, self.ctx_spin.value()))

    def _save(self, key: str, value: int | str) -> None:
        self.chat.settings.set(key, value)
        apply_engine_defaults(self.chat, self.automatic_threads)

    @Slot(int)
    def _on_ctx(self, value: int) -> None:
        self._save(N_CTX, value)
        self.kv_label.setText(kv_note(self.chat, value))

    @Slot(int)
    def _on_threads(self, value: int) -> None:
        self._save(N_THREADS, value)

    @Slot(int)
    def _on_gpu(self, value: int) -> None:
        self._save(N_GPU_LAYERS, value)

    @Slot(int)
    def _on_speculative(self, index: int) -> None:
        self._save(SPECULATIVE, str(self.speculative_combo.itemData(index)))
