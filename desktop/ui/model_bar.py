"""The model bar above the chat: the chat's model picker, Open… and Get models…, where the chat's
messages go (the privacy label) and the chat's Local only lock.

It shows the state of the chat on screen; the window tells it which chat that is and does what
its signals ask. Open… (and Model → Open GGUF file…) adds a model file to that chat here.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QToolButton,
    QWidget,
)

from desktop.core.adapters import Adapter, AdapterFit, with_adapters
from desktop.core.errors import LlamasideError
from desktop.core.models import CloudModel, LocalModel, human_size
from desktop.services import model_catalog
from desktop.services.chat import ChatService
from desktop.services.chat_adapters import is_adapter_path
from desktop.ui.adapter_button import AdapterButton
from desktop.ui.design import SPACE, Tone, set_tone
from desktop.ui.fitting_combo import FittingCombo
from desktop.ui.icon_set import set_icon
from desktop.ui.widgets import FittingLabel

#: The picker's last entry, which opens the cloud provider settings.
SET_UP_CLOUD = "__set_up_cloud__"
#: Where a combo box's QStandardItem keeps its flags (QStandardItem::setFlags writes them there),
#: and the flags of an entry shown but not choosable.
_FLAGS_ROLE = Qt.ItemDataRole.UserRole - 1
_DISABLED = (Qt.ItemFlag.ItemIsSelectable).value


class ModelBar(QWidget):
    """Owns the picker's entries (failed models marked, cloud ones disabled in a locked chat),
    the privacy label's words, and adding a GGUF file the user opens to the chat on screen.

    Signals:
        model_picked(str): the user chose this model for the chat on screen.
        set_up_cloud(): the user chose "Set up cloud models…".
        error(str): an opened file was not added; the words say why.
        status(str, int): a passing line for the status bar, for so many ms.
    """

    model_picked = Signal(str)
    set_up_cloud = Signal()
    error = Signal(str)
    status = Signal(str, int)

    def __init__(self, chat: ChatService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chat = chat
        self.conversation_id: int | None = None
        self.picker = FittingCombo(self)
        self.picker.setObjectName("modelPicker")
        self.picker.setAccessibleName("Model")
        # Long file names must not make the window wider than a small screen.
        self.picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.picker.setMinimumContentsLength(22)  # room for the LoRA button at 800 px
        # A compact button (an icon): Model → Open GGUF file… (Ctrl+O) says it in words.
        self.open_button = QToolButton(self)
        self.open_button.setText("Open…")
        self.open_button.setToolTip("Open a GGUF model file (Ctrl+O)")
        self.open_button.setAccessibleName("Open a GGUF model file")
        set_icon(self.open_button, "open")  # icon only: its tooltip and name say what it does
        self.adapter_button = AdapterButton(self)
        self.models_button = QPushButton("Get models…", self)
        self.models_button.setAccessibleName("Find and download models")
        set_icon(self.models_button, "download")
        # Never cut off: it shortens to an icon (the whole text in its tooltip) on a narrow window.
        self.privacy_label = FittingLabel(self)
        self.privacy_label.setObjectName("privacyLabel")
        self.privacy_label.setAccessibleName("Privacy")
        self.privacy_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.lock_button = QToolButton(self)
        self.lock_button.setObjectName("localOnlyButton")
        self.lock_button.setText("Local only")
        self.lock_button.setCheckable(True)
        self.lock_button.setAccessibleName("Local only: this chat never uses cloud models")
        self.lock_button.setToolTip("Lock this chat to models on this computer")
        self.lock_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        set_icon(self.lock_button, "lock")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(SPACE.s)
        model_label = QLabel("Model:", self)
        set_tone(model_label, "muted")
        layout.addWidget(model_label)
        layout.addWidget(self.picker)
        layout.addWidget(self.adapter_button)
        layout.addWidget(self.open_button)
        layout.addWidget(self.models_button)
        layout.addWidget(self.privacy_label, 1)  # the free width, right-aligned
        layout.addWidget(self.lock_button)
        self.picker.activated.connect(self._on_activated)
        self.adapter_button.chosen_changed.connect(self._on_adapters_chosen)
        self.adapter_button.add_requested.connect(self.add_adapter_file)
        self.adapter_button.offer = self._adapters_offered

    def show_chat(self, conversation_id: int | None, locked: bool) -> None:
        """The picker and the privacy label for this chat (its model, its lock)."""
        self.conversation_id = conversation_id
        picker = self.picker
        picker.blockSignals(True)
        picker.clear()
        current = self.chat.model_of(conversation_id)
        errors = self.chat.model_errors()
        for model in self.chat.models:
            size = f" · {human_size(model.size_bytes)}" if model.size_bytes else ""
            # A model that failed last time stays choosable (the user may have fixed the file),
            # but says so where it is chosen, with the reason in its tooltip.
            failed = errors.get(model.path)
            mark = " · ⚠ failed to load" if failed else ""
            eyes = " · 👁" if model.mmproj else ""
            picker.addItem(f"{model.name}{size}{eyes}{mark}", model.id)
            tooltip = model.path
            if model.mmproj:
                tooltip += f"\n👁 Sees images (vision projector {Path(model.mmproj).name})"
            if failed:
                tooltip += f"\n{failed}"
            picker.setItemData(picker.count() - 1, tooltip, Qt.ItemDataRole.ToolTipRole)
        if self.chat.cloud is not None:
            picker.insertSeparator(picker.count())
            for cloud_model in self.chat.cloud_models:
                picker.addItem(f"☁ {cloud_model.name}", cloud_model.id)
                if locked:
                    # Shown but not choosable: the lock is visible where the choice is made.
                    # The item's flags through its data role, not model.item(): PySide keeps
                    # that wrapper alive after clear() frees the item, and a later object at
                    # its address came back as a QStandardItem (a floors run failed so).
                    picker.setItemData(picker.count() - 1, _DISABLED, _FLAGS_ROLE)
            picker.addItem("☁ Set up cloud models…", SET_UP_CLOUD)
        for index in range(picker.count()):
            if current is not None and picker.itemData(index) == current.id:
                picker.setCurrentIndex(index)
        picker.blockSignals(False)
        picker.updateGeometry()  # its entry changed with signals blocked: ask for its room again
        self.lock_button.blockSignals(True)
        self.lock_button.setChecked(locked)
        self.lock_button.blockSignals(False)
        self._show_privacy(current, locked)
        self.show_adapters()

    def show_adapters(self) -> None:
        """The LoRA button for the chat's model: what fits it, what the chat chose."""
        cid = self.conversation_id
        model = self.chat.model_of(cid) if cid is not None else None
        local = isinstance(model, LocalModel)
        if local and cid is not None:
            fits = self.chat.adapters_offered(model)
            chosen = self.chat.chat_adapters(cid)
            self.adapter_button.show_state(fits, chosen, local=True)
        else:
            chosen = ()
            self.adapter_button.show_state([], (), local=False)
        # Shown once this machine has an adapter (Open GGUF… adds the first one): a bar that
        # most users never need stays narrow enough for an 800-pixel screen.
        self.adapter_button.setVisible(bool(chosen) or bool(self.chat.adapter_files()))

    def _adapters_offered(self) -> list[AdapterFit]:
        cid = self.conversation_id
        return self.chat.adapters_offered(self.chat.model_of(cid) if cid is not None else None)

    @Slot(object)
    def _on_adapters_chosen(self, adapters: tuple[Adapter, ...]) -> None:
        cid = self.conversation_id
        model = self.chat.model_of(cid) if cid is not None else None
        if cid is None or model is None:
            return
        self.chat.set_chat_adapters(cid, adapters)
        self.show_adapters()
        label = with_adapters(model.name, adapters)
        self.status.emit(f"This chat now answers with {label} (the model stays loaded)", 8000)

    @Slot()
    def add_adapter_file(self) -> None:
        """A LoRA adapter GGUF the user picks: remembered, and chosen where it fits."""
        path, _filter = QFileDialog.getOpenFileName(
            self.window(), "Add a LoRA adapter (GGUF)", "", "GGUF adapters (*.gguf);;All files (*)"
        )
        if path:
            self._add_adapter(path)

    def _add_adapter(self, path: str) -> None:
        try:
            fit = self.chat.add_adapter_file(path, self.conversation_id)
        except LlamasideError as exc:
            self.error.emit(f"{exc} It was not added.")
            return
        self.show_adapters()
        if fit.fits:
            self.status.emit(f"Added the LoRA adapter {fit.file.name}; this chat uses it", 10_000)
        else:
            self.error.emit(f"Added the LoRA adapter {fit.file.name}, but {fit.reason}")

    def _show_privacy(self, model: object, locked: bool) -> None:
        cloud = self.chat.cloud
        # From the whole sentence to an icon: the label shows the longest that fits.
        texts: tuple[str, ...]
        if cloud is not None and cloud.offline:
            texts = ("Offline · nothing leaves this computer", "Offline", "⛔")
            tone: Tone = "danger"
        elif isinstance(model, CloudModel) and not locked:
            config = cloud.provider(model.provider) if cloud is not None else None
            where = config.base_url if config is not None else model.provider
            host = urlsplit(where).netloc or where
            texts = (
                f"☁ Cloud · this chat's messages go to {where}",
                f"☁ Cloud · {host}",
                "☁ Cloud",
                "☁",
            )
            tone = "warning"
        else:
            texts = ("Local · nothing leaves this computer", "Local", "🔒")
            tone = "success"
        self.privacy_label.set_texts(*texts)
        set_tone(self.privacy_label, tone)

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        model_id = str(self.picker.itemData(index))
        if model_id == SET_UP_CLOUD:
            self.set_up_cloud.emit()  # the window shows the chat's model again, then the page
            return
        self.model_picked.emit(model_id)
        cid = self.conversation_id
        model = self.chat.model_of(cid) if cid is not None else None
        if cid is not None and model is not None:
            self.chat.keep_fitting_adapters(cid, model)  # a fine-tune of another model goes
            self.show_adapters()

    @Slot()
    def open_model_file(self) -> None:
        """The model, or the model and its vision projector (an mmproj file) picked together;
        a projector alone is said to be one, and its model asked for."""
        paths, _filter = QFileDialog.getOpenFileNames(
            self.window(),
            "Open a GGUF model (and its vision projector, if it has one)",
            "",
            "GGUF models (*.gguf);;All files (*)",
        )
        if not paths:
            return
        adapters = [p for p in paths if is_adapter_path(p)]
        for path in adapters:  # a LoRA adapter opened like a model: added to the chat's model
            self._add_adapter(path)
        paths = [p for p in paths if p not in adapters]
        if not paths:
            return
        models, projectors = model_catalog.split_picks(paths)
        if len(models) > 1 or len(projectors) > 1:
            self.error.emit("Pick one model, and at most one vision projector (mmproj) with it.")
            return
        if not models:
            QMessageBox.information(
                self.window(),
                "A vision projector",
                f"{Path(projectors[0]).name} is a vision projector (mmproj): it lets a model "
                "see images, but it is not a model. Pick the model it belongs with next.",
            )
            model_path, _filter = QFileDialog.getOpenFileName(
                self.window(), "Open the model for this projector", "", "GGUF models (*.gguf)"
            )
            if not model_path:
                return
            models = [model_path]
        try:
            model = self.chat.add_model_file(models[0], self.conversation_id)
            if projectors:
                model_catalog.pair_projector(self.chat.store, model.path, projectors[0])
                self.chat.refresh_models()
        except LlamasideError as exc:
            # Checked now, not after a message is sent: nothing is added, nothing is sent.
            self.error.emit(f"{exc} It was not added.")
            return
        sees = " (it sees images)" if projectors else ""
        self.status.emit(f"Added {model.name}{sees}; this chat now uses it", 10_000)
