"""Preferences' smaller pages: Appearance (theme and text size, the same as View → Theme and
View → Zoom), Chat (the model new chats start with), Privacy (working offline, new chats kept on
this computer) and Folders (where the data and the models are, each with Open). Each control
applies and saves its setting as it changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import LlamasideError
from desktop.services.chat import ChatService
from desktop.services.models_folder import chosen_models_folder, use_models_folder
from desktop.ui.design import SPACE, set_tone
from desktop.ui.menus import THEMES
from desktop.ui.zoom import MOST_STEPS

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

#: The setting naming the model new chats start with ("" or absent: the last one used).
NEW_CHAT_MODEL = "new_chat_model"
#: The setting naming the preset new chats start with ("" or absent: the model's own).
NEW_CHAT_PRESET = "new_chat_preset"
#: The setting that makes new chats local only.
LOCK_NEW_CHATS = "lock_new_chats"
#: The width of the labels at the left of the controls, so the controls line up.
LABEL_WIDTH = 110
#: The least width of a value's control (a spin box, a combo), so their columns line up.
WIDE_VALUE = 280
#: Points below the normal text size offered (Zoom stops at its own smallest size).
FEWEST_STEPS = -8


def note_label(text: str, parent: QWidget | None) -> QLabel:
    """A one-line explanation under a control, in the theme's quieter text colour."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    set_tone(label, "muted")
    return label


def page_layout(page: QWidget) -> QVBoxLayout:
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(SPACE.s)
    return layout


def add_field(
    layout: QVBoxLayout, label: str, control: QWidget | QLayout, note: str = ""
) -> QLabel | None:
    """A row of ``layout``: its label at the left, the control; the note, if any, under the
    control (returned, for a note that changes). Labels share one width, so controls line up."""
    page = layout.parentWidget()
    row = QHBoxLayout()
    caption = QLabel(label, page)
    caption.setFixedWidth(LABEL_WIDTH)
    row.addWidget(caption)
    if isinstance(control, (QAbstractSpinBox, QComboBox)):  # a value: as wide as it needs
        caption.setBuddy(control)
        control.setMinimumWidth(WIDE_VALUE)
        row.addWidget(control)
        row.addStretch(1)
    elif isinstance(control, QWidget):
        caption.setBuddy(control)
        row.addWidget(control, 1)
    else:
        row.addLayout(control, 1)
    layout.addLayout(row)
    if not note:
        return None
    under = note_label(note, page)
    indented = QHBoxLayout()
    indented.addSpacing(LABEL_WIDTH + row.spacing())
    indented.addWidget(under, 1)
    layout.addLayout(indented)
    layout.addSpacing(SPACE.s)
    return under


def apply_new_chat_preset(chat: ChatService, conversation_id: int) -> None:
    """Give a new chat the preset Preferences → Chat chose, while that preset exists."""
    name = str(chat.settings.get(NEW_CHAT_PRESET) or "")
    if name and chat.presets().get(name) is not None:
        chat.apply_preset(conversation_id, name)


class AppearancePage(QWidget):
    """Owns the theme and text size controls; they act through the window's Theme and Zoom."""

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("appearancePage")
        self.window_ = window
        self.theme_combo = QComboBox(self)
        self.theme_combo.setAccessibleName("Theme")
        for key, label in THEMES:
            self.theme_combo.addItem(label, key)
        self.size_spin = QSpinBox(self)
        self.size_spin.setAccessibleName("Text size, in points from the normal size")
        self.size_spin.setRange(FEWEST_STEPS, MOST_STEPS)
        self.size_spin.setSuffix(" pt")
        layout = page_layout(self)
        add_field(layout, "Theme:", self.theme_combo, "The same as View → Theme.")
        note = "Points above (or below) the normal size of the chat's and the message box's "
        note += "text: the same as View → Zoom In (Ctrl+=), Zoom Out (Ctrl+-), Actual Size."
        add_field(layout, "Text size:", self.size_spin, note)
        layout.addStretch(1)
        self._show()
        self.theme_combo.currentIndexChanged.connect(self._on_theme)
        self.size_spin.valueChanged.connect(self._on_size)
        window.menus.theme_chosen.connect(lambda _theme: self._show())

    def showEvent(self, event: QShowEvent) -> None:
        """View's menu may have changed either since the page was last shown."""
        super().showEvent(event)
        self._show()

    def _show(self) -> None:
        theme = str(self.window_.chat.settings.get("theme", "system"))
        self.theme_combo.blockSignals(True)
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(theme)))
        self.theme_combo.blockSignals(False)
        self.size_spin.blockSignals(True)
        self.size_spin.setValue(self.window_.zoom.steps)
        self.size_spin.blockSignals(False)

    @Slot(int)
    def _on_theme(self, _index: int) -> None:
        self.window_.theme.set_theme(str(self.theme_combo.currentData()))

    @Slot(int)
    def _on_size(self, steps: int) -> None:
        zoom = self.window_.zoom
        zoom.zoom(steps)
        if zoom.steps != steps:  # past the smallest size the text can take
            self.size_spin.blockSignals(True)
            self.size_spin.setValue(zoom.steps)
            self.size_spin.blockSignals(False)


class ChatPage(QWidget):
    """Owns what new chats start with: the model (the local model used last, the app's way
    so far, or one chosen here: the "new_chat_model" setting) and the preset
    ("new_chat_preset", given to each new chat by ``apply_new_chat_preset``)."""

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatPage")
        self.chat = window.chat
        self.last_radio = QRadioButton("The local model I used last", self)
        self.last_radio.setAccessibleName("New chats start with the model used last")
        self.chosen_radio = QRadioButton("Always this model:", self)
        self.chosen_radio.setAccessibleName("New chats start with a chosen model")
        group = QButtonGroup(self)
        group.addButton(self.last_radio)
        group.addButton(self.chosen_radio)
        self.model_combo = QComboBox(self)
        self.model_combo.setAccessibleName("The model new chats start with")
        chosen_row = QHBoxLayout()
        chosen_row.addWidget(self.chosen_radio)
        chosen_row.addWidget(self.model_combo, 1)
        layout = page_layout(self)
        layout.addWidget(QLabel("New chats start with:", self))
        layout.addWidget(self.last_radio)
        layout.addLayout(chosen_row)
        note = "Local models only: a new chat sends nothing anywhere until you pick a cloud "
        note += "model for it. A chat you already have keeps its own model."
        layout.addWidget(note_label(note, self))
        layout.addSpacing(SPACE.l)
        self.preset_combo = QComboBox(self)
        self.preset_combo.setAccessibleName("The preset new chats start with")
        note = "Its system prompt and sampling are given to each new chat; the chat's own "
        note += "preset picker still changes it. Presets are edited with Edit… beside it."
        add_field(layout, "Preset:", self.preset_combo, note)
        layout.addStretch(1)
        self._show()
        self._show_presets()
        self.last_radio.toggled.connect(self._save)
        self.model_combo.currentIndexChanged.connect(lambda _index: self._save())
        self.preset_combo.currentIndexChanged.connect(self._on_preset)
        self.chat.models_changed.connect(self._show)

    def showEvent(self, event: QShowEvent) -> None:
        """Presets may have been added or deleted since the page was last shown."""
        super().showEvent(event)
        self._show_presets()

    def _show_presets(self) -> None:
        chosen = str(self.chat.settings.get(NEW_CHAT_PRESET) or "")
        combo = self.preset_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("The model's own (Balanced, or its maker's recommended)", "")
        for preset in self.chat.presets().all():
            combo.addItem(preset.name, preset.name)
        combo.setCurrentIndex(max(0, combo.findData(chosen)))
        combo.blockSignals(False)

    @Slot(int)
    def _on_preset(self, _index: int) -> None:
        self.chat.settings.set(NEW_CHAT_PRESET, str(self.preset_combo.currentData() or ""))

    @Slot()
    def _show(self) -> None:
        pinned = str(self.chat.settings.get(NEW_CHAT_MODEL) or "")
        default = self.chat.default_model
        for widget in (self.model_combo, self.last_radio, self.chosen_radio):
            widget.blockSignals(True)
        self.model_combo.clear()
        for model in self.chat.models:
            self.model_combo.addItem(model.name, model.id)
            self.model_combo.setItemData(
                self.model_combo.count() - 1, model.path, Qt.ItemDataRole.ToolTipRole
            )
        shown = pinned or (default.id if default is not None else "")
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(shown)))
        self.chosen_radio.setChecked(bool(pinned))
        self.last_radio.setChecked(not pinned)
        self.model_combo.setEnabled(bool(pinned))
        for widget in (self.model_combo, self.last_radio, self.chosen_radio):
            widget.blockSignals(False)

    @Slot()
    def _save(self) -> None:
        pinned = self.chosen_radio.isChecked() and self.model_combo.currentData() is not None
        self.model_combo.setEnabled(self.chosen_radio.isChecked())
        value = str(self.model_combo.currentData()) if pinned else ""
        if value != (self.chat.settings.get(NEW_CHAT_MODEL) or ""):
            self.chat.settings.set(NEW_CHAT_MODEL, value)
            self.chat.models_changed.emit()  # the picker of an empty new chat follows


class PrivacyPage(QWidget):
    """Owns the privacy defaults: the offline switch (File → Work offline) and whether new
    chats are local only (the "lock_new_chats" setting, handed to the chat library)."""

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("privacyPage")
        self.window_ = window
        cloud = window.chat.cloud
        self.offline_box = QCheckBox("Work offline", self)
        self.offline_box.setAccessibleName("Work offline")
        self.offline_box.setChecked(cloud is not None and cloud.offline)
        self.offline_box.setEnabled(cloud is not None)
        self.lock_box = QCheckBox("New chats are local only", self)
        self.lock_box.setAccessibleName("New chats are local only")
        self.lock_box.setChecked(bool(window.chat.settings.get(LOCK_NEW_CHATS, False)))
        layout = page_layout(self)
        layout.addWidget(self.offline_box)
        note = "Nothing goes out: no hub searches or downloads, no cloud models. The same as "
        note += "File → Work offline (Ctrl+Shift+O)."
        layout.addWidget(note_label(note, self))
        layout.addWidget(self.lock_box)
        note = "Each new chat starts locked to this computer: its messages never go to a cloud "
        note += "model until you turn off its lock (Chat → Local only)."
        layout.addWidget(note_label(note, self))
        layout.addStretch(1)
        # The window's own offline switch does it (and says when it cannot be saved).
        self.offline_box.toggled.connect(window.menus.offline_action.setChecked)
        if cloud is not None:
            cloud.offline_changed.connect(self.offline_box.setChecked)
        self.lock_box.toggled.connect(self._on_lock)

    @Slot(bool)
    def _on_lock(self, locked: bool) -> None:
        self.window_.chat.settings.set(LOCK_NEW_CHATS, locked)
        self.window_.library.lock_new_chats = locked


class FoldersPage(QWidget):
    """The data folder and the models folder, each with Open (the file manager); the models
    folder can be another one (Change…), and the data folder's again (Default)."""

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("foldersPage")
        self.window_ = window
        self.data_folder = window.library.path.parent
        self.default_models = self.data_folder / "models"
        layout = page_layout(self)
        data_row, _data_edit = self._row("Data folder", lambda: self.data_folder)
        add_field(layout, "Data:", data_row, DATA_NOTE)
        models_row, self.models_edit = self._row("Models folder", lambda: self.models_folder)
        self.change_button = QPushButton("Change…", models_row)
        self.change_button.setObjectName("changeModelsFolder")
        self.change_button.setAccessibleName("Choose another models folder")
        self.change_button.clicked.connect(self._choose)
        self.default_button = QPushButton("Default", models_row)
        self.default_button.setObjectName("defaultModelsFolder")
        self.default_button.setAccessibleName("Use the models folder in the data folder")
        self.default_button.setToolTip(str(self.default_models))
        self.default_button.clicked.connect(lambda: self.use(self.default_models))
        row_layout = models_row.layout()
        assert row_layout is not None
        row_layout.addWidget(self.change_button)
        row_layout.addWidget(self.default_button)
        self.models_note = add_field(layout, "Models:", models_row, MODELS_NOTE)
        layout.addStretch(1)
        self._show()

    @property
    def models_folder(self) -> Path:
        return self.window_.chat.models_dir

    def _row(self, name: str, folder: Callable[[], Path]) -> tuple[QWidget, QLineEdit]:
        row = QWidget(self)
        edit = QLineEdit(str(folder()), row)
        edit.setReadOnly(True)
        edit.setAccessibleName(name)
        edit.setCursorPosition(0)
        button = QPushButton("Open", row)
        button.setAccessibleName(f"Open the {name.lower()}")
        button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder()))))
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        layout.addWidget(button)
        return row, edit

    def _show(self) -> None:
        self.models_edit.setText(str(self.models_folder))
        self.models_edit.setCursorPosition(0)
        # Also for a chosen folder that is gone (the default is in use): Default forgets it.
        chosen = chosen_models_folder(self.window_.chat)
        self.default_button.setEnabled(bool(chosen) or self.models_folder != self.default_models)

    @Slot()
    def _choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(
            self, "Choose the models folder", str(self.models_folder)
        )
        if chosen:
            self.use(Path(chosen))

    def use(self, folder: Path) -> None:
        """Models listed from ``folder`` and downloaded into it from now on, and at the next
        start; a folder that cannot hold them, or a download still going, is said and nothing
        changes."""
        window = self.window_
        try:
            found = use_models_folder(window.chat, window.downloads, folder, self.default_models)
        except (LlamasideError, OSError) as exc:
            QMessageBox.warning(self, "Models folder", str(exc))
            return
        self._show()
        if self.models_note is not None:
            self.models_note.setText(
                f"{found} model file{'' if found == 1 else 's'} found here. Models in the "
                "folder before stay there: move their files here to keep them in the list, "
                "or add one with Model → Open GGUF file…"
            )


#: What the Folders page says under each folder.
DATA_NOTE = (
    "Chats and pictures live in the data folder. To keep everything elsewhere, start "
    "Llamaside with LLAMASIDE_HOME set to a folder."
)
MODELS_NOTE = (
    "Where models are listed from and downloaded to: another disk for big models, if you "
    "like. A GGUF file anywhere else can be added with Model → Open GGUF file…"
)
