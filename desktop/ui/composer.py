"""Where the user writes: the message box, Send and Stop, the chat's preset, the pictures for
the next message (attachments.py), and the notice shown while a question is being edited."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat_records import StoredMessage
from desktop.core.errors import LlamasideError
from desktop.core.parts import Image
from desktop.core.presets import BALANCED, recommended_preset
from desktop.services.chat import ChatService
from desktop.services.chat_images import vision_note
from desktop.services.images import ImageService
from desktop.services.library import ChatLibrary
from desktop.ui.attachments import Attachments
from desktop.ui.design import SPACE, set_tone
from desktop.ui.icon_set import set_icon
from desktop.ui.presets_dialog import PresetsDialog
from desktop.ui.widgets import InputBox

EDITING_NOTICE = (
    "Editing a message: Enter sends it as a new version (the old one is kept); Esc cancels."
)


class Composer(QWidget):
    """Owns the message box, Send and Stop, the preset picker with its Edit… button, and edit
    mode: which earlier question (``editing``) the next send makes a new version of. Its
    presets are those of the chat on screen (``conversation_id``, set by the window), which
    sends what the composer asks.

    ``edit_label`` is the composer's, but the window places it (above the undo bar).
    ``attachments``: the pictures for the next message (None: this window takes none).

    Signals:
        submitted(): Enter in the box, or Send.
        stop_requested(): Stop, or Esc while an answer is being generated.
        error(str): a preset could not be applied; the words say why.
    """

    submitted = Signal()
    stop_requested = Signal()
    error = Signal(str)

    def __init__(
        self,
        chat: ChatService,
        library: ChatLibrary,
        parent: QWidget | None = None,
        *,
        images: ImageService | None = None,
    ) -> None:
        super().__init__(parent)
        self.chat = chat
        self.library = library
        self.conversation_id: int | None = None
        #: The question being edited (its new version is sent on Enter), if any.
        self.editing: StoredMessage | None = None
        self.presets_dialog: PresetsDialog | None = None
        self.edit_label = QLabel(self)
        self.edit_label.setObjectName("editingNotice")
        set_tone(self.edit_label, "accent")
        self.edit_label.hide()
        self.preset_picker = QComboBox(self)
        self.preset_picker.setObjectName("presetPicker")
        self.preset_picker.setAccessibleName("Preset: system prompt and sampling of this chat")
        self.presets_button = QToolButton(self)
        self.presets_button.setText("Edit…")
        self.presets_button.setToolTip("Edit presets")
        self.presets_button.setAccessibleName("Edit presets")
        self.presets_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        set_icon(self.presets_button, "presets")
        self.input_box = InputBox(self)
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send message")
        self.send_button.setDefault(True)
        set_icon(self.send_button, "send")  # after setDefault: drawn for the accent surface
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setAccessibleName("Stop generating")
        self.stop_button.setEnabled(False)
        set_icon(self.stop_button, "stop")
        self.attachments = Attachments(images, self) if images is not None else None
        self._lay_out()
        if self.attachments is not None:
            self.add_to_row(self.attachments.button)
            self.attachments.watch(self.input_box)
        self.input_box.submitted.connect(self.submitted)
        self.send_button.clicked.connect(self.submitted)
        self.stop_button.clicked.connect(self.stop_requested)
        self.preset_picker.activated.connect(self._on_preset_picked)
        self.presets_button.clicked.connect(self.show_presets)

    def _lay_out(self) -> None:
        buttons = QVBoxLayout()
        buttons.setSpacing(SPACE.s)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        bottom = QHBoxLayout()
        bottom.setSpacing(SPACE.s)
        bottom.addWidget(self.input_box, 1)
        bottom.addLayout(buttons)
        # The chat's preset sits with the message it shapes, not in the crowded top bar.
        compose = QHBoxLayout()
        compose.setSpacing(SPACE.s)
        preset_label = QLabel("Preset:", self)
        set_tone(preset_label, "muted")
        compose.addWidget(preset_label)
        compose.addWidget(self.preset_picker)
        compose.addWidget(self.presets_button)
        compose.addStretch(1)
        self._row = compose
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(SPACE.s)
        if self.attachments is not None:  # the pictures sit above the words they go with
            layout.addWidget(self.attachments.strip)
            layout.addWidget(self.attachments.note)
        layout.addLayout(bottom)
        layout.addLayout(compose)

    def add_to_row(self, widget: QWidget) -> None:
        """A control that shapes the next message (e.g. the chat's tools), after the preset."""
        self._row.insertWidget(self._row.count() - 1, widget)

    def set_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)

    def give_back(self, text: str, images: Sequence[Image] = ()) -> None:
        """Text that was not sent goes back in the box, before anything typed meanwhile, and
        its pictures back in the strip."""
        draft = self.input_box.toPlainText()
        self.input_box.setPlainText(f"{text}\n\n{draft}" if draft.strip() else text)
        self.give_back_pictures(images)

    # -- pictures ------------------------------------------------------------------------------

    def give_back_pictures(self, images: Sequence[Image]) -> None:
        """Pictures of a message that was not sent go back in the strip."""
        if images and self.attachments is not None:
            self.attachments.restore(images)

    def pictures(self) -> tuple[Image, ...]:
        """The pictures ready to go with the next message."""
        return self.attachments.pictures() if self.attachments is not None else ()

    def preparing(self) -> list[str]:
        """Names of attached pictures still being read (the message waits for them)."""
        return self.attachments.preparing() if self.attachments is not None else []

    def clear_pictures(self) -> None:
        if self.attachments is not None:
            self.attachments.clear()

    def refresh_vision(self) -> None:
        """Attaching is on only when the chat's model can see (else the button says why)."""
        if self.attachments is not None:
            model = self.chat.model_of(self.conversation_id)
            self.attachments.set_vision_note(vision_note(model))

    # -- edit mode ----------------------------------------------------------------------------

    def start_editing(self, message: StoredMessage) -> None:
        """Put a question back in the box; sending makes a new version of it."""
        self.editing = message
        self.input_box.setPlainText(message.content)
        self.input_box.setFocus()
        self.edit_label.setText(EDITING_NOTICE)
        self.edit_label.show()

    def end_editing(self) -> None:
        self.editing = None
        self.edit_label.hide()

    @Slot()
    def escape(self) -> None:
        """Esc: stops the answer being generated; else ends an edit, and its text goes."""
        if self.chat.busy:
            self.stop_requested.emit()
        elif self.editing is not None:
            self.end_editing()
            self.input_box.clear()

    # -- presets ------------------------------------------------------------------------------

    def refresh_presets(self) -> None:
        """The picker shows this chat's preset (or, for a new chat, the model's own)."""
        picker = self.preset_picker
        picker.blockSignals(True)
        picker.clear()
        for preset in self.chat.presets().all():
            picker.addItem(preset.name, preset.name)
        current = BALANCED
        if self.conversation_id is not None:
            chosen = self.library.conversation(self.conversation_id).preset
            model = self.chat.model_of(self.conversation_id)
            current = chosen or recommended_preset(model.name if model else "")
        picker.setCurrentIndex(max(0, picker.findData(current)))
        picker.blockSignals(False)

    @Slot(int)
    def _on_preset_picked(self, index: int) -> None:
        if self.conversation_id is None:
            return
        try:
            self.chat.apply_preset(self.conversation_id, str(self.preset_picker.itemData(index)))
        except LlamasideError as exc:
            self.error.emit(str(exc))
        self.refresh_presets()

    @Slot()
    def show_presets(self) -> None:
        dialog = PresetsDialog(self.chat, self.preset_picker.currentText(), self.window())
        dialog.finished.connect(lambda _result: self.refresh_presets())
        dialog.open()
        self.presets_dialog = dialog
