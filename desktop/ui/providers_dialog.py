"""Preferences → Cloud keys: turn providers on, set base URLs, store keys, test connections.
The page (ProvidersPage) sits in the Preferences window; ProvidersDialog shows it on its own.

Keys go from the masked field straight to the system keyring (services.cloud → backends.secrets)
and the field is cleared: a stored key is never shown again, nor put in a tooltip or title. The
page says where the key in use comes from (keyring, an environment variable, or none).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import LlamasideError
from desktop.core.providers import BUILTIN
from desktop.services.cloud import CloudService
from desktop.ui.design import set_tone, type_font
from desktop.ui.prefs_endpoint import EndpointForm
from desktop.ui.screen_fit import fit_to_screen

NAME_ROLE = Qt.ItemDataRole.UserRole


class ProvidersPage(QWidget):
    """Edits the cloud providers through the cloud service; a key typed here goes to the keyring."""

    def __init__(self, cloud: CloudService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cloud = cloud
        self.setObjectName("providersPage")
        self._build()
        cloud.changed.connect(self._refresh_list)
        cloud.checked.connect(self._on_checked)
        self._refresh_list()
        self.provider_list.setCurrentRow(0)

    # -- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        intro = QLabel(
            "Cloud models are off until you turn a provider on. Local chats never use them. "
            "Keys are kept in the system keyring only.",
            self,
        )
        intro.setWordWrap(True)
        self.keyring_label = QLabel(self)
        self.keyring_label.setWordWrap(True)
        set_tone(self.keyring_label, "danger")
        self.keyring_label.setAccessibleName("Keyring problem")

        self.provider_list = QListWidget(self)
        self.provider_list.setAccessibleName("Providers")
        self.provider_list.currentItemChanged.connect(self._on_selected)
        add = QPushButton("Add endpoint…", self)
        add.setAccessibleName("Add an OpenAI- or Anthropic-compatible endpoint")
        add.clicked.connect(self.add_endpoint)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setAccessibleName("Remove the endpoint or reset the provider")
        self.remove_button.clicked.connect(self.remove_provider)
        left = QVBoxLayout()
        left.addWidget(self.provider_list, 1)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(self.remove_button)
        left.addLayout(row)

        self.title = QLabel(self)
        self.title.setFont(type_font("title"))
        self.enabled_box = QCheckBox("Use this provider (messages you send to its models go there)")
        self.enabled_box.setAccessibleName("Use this provider")
        self.enabled_box.toggled.connect(self._on_enabled)
        self.url_edit = QLineEdit(self)
        self.url_edit.setAccessibleName("Base URL")
        apply_url = QPushButton("Apply", self)
        apply_url.setAccessibleName("Apply the base URL")
        apply_url.clicked.connect(self._apply_url)
        url_row = QHBoxLayout()
        url_row.addWidget(self.url_edit, 1)
        url_row.addWidget(apply_url)
        self.url_source = QLabel(self)
        self.url_source.setObjectName("urlSource")
        self.url_source.setAccessibleName("Where the base URL comes from")

        self.key_edit = QLineEdit(self)
        self.key_edit.setObjectName("keyEdit")
        self.key_edit.setAccessibleName("API key")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        # Short: at 800×600 the field is ~120 px wide; where the key goes is in its tooltip.
        self.key_edit.setPlaceholderText("Paste a key")
        self.key_edit.setToolTip("Paste an API key: Save key stores it in the system keyring")
        self.save_key_button = QPushButton("Save key", self)
        self.save_key_button.clicked.connect(self._save_key)
        self.key_edit.returnPressed.connect(self._save_key)
        self.remove_key_button = QPushButton("Remove key", self)
        self.remove_key_button.clicked.connect(self._remove_key)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.save_key_button)
        key_row.addWidget(self.remove_key_button)
        self.key_source = QLabel(self)
        self.key_source.setAccessibleName("Key source")

        self.test_button = QPushButton("Test connection", self)
        self.test_button.setAccessibleName("Test connection")
        self.test_button.clicked.connect(self._test)
        self.test_result = QLabel(self)
        self.test_result.setWordWrap(True)
        self.test_result.setAccessibleName("Connection test result")
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)

        self.model_list = QListWidget(self)
        self.model_list.setAccessibleName("Models of this provider")
        self.refresh_button = QPushButton("Refresh list", self)
        self.refresh_button.setAccessibleName("Fetch the provider's model list")
        self.refresh_button.clicked.connect(self._refresh_models)

        form = QFormLayout()
        form.addRow(self.title)
        form.addRow(self.enabled_box)
        form.addRow("Base URL:", url_row)
        form.addRow("", self.url_source)
        form.addRow("API key:", key_row)
        form.addRow("", self.key_source)
        form.addRow("", test_row)
        form.addRow("Models:", self.model_list)
        form.addRow("", self.refresh_button)

        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(form, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(intro)
        layout.addWidget(self.keyring_label)
        layout.addLayout(body, 1)
        # Enter in the key field saves the key; it must not also press some default button.
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
            button.setDefault(False)

    def showEvent(self, event: QShowEvent) -> None:
        """The keyring may have gone (or come back) since the page was last shown."""
        super().showEvent(event)
        self._refresh_list()

    # -- state --------------------------------------------------------------------------------

    @property
    def selected(self) -> str | None:
        item = self.provider_list.currentItem()
        return str(item.data(NAME_ROLE)) if item is not None else None

    @Slot()
    def _refresh_list(self) -> None:
        problem = self.cloud.keyring_problem()
        self.keyring_label.setText(problem or "")
        self.keyring_label.setVisible(bool(problem))
        current = self.selected
        self.provider_list.blockSignals(True)
        self.provider_list.clear()
        for config in self.cloud.providers().all():
            state = "on" if config.enabled else "off"
            item = QListWidgetItem(f"{config.label or config.name}  ({state})")
            item.setData(NAME_ROLE, config.name)
            self.provider_list.addItem(item)
            if config.name == current:
                self.provider_list.setCurrentItem(item)
        self.provider_list.blockSignals(False)
        self._show(self.selected)

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_selected(self, _current: object, _previous: object) -> None:
        self.test_result.setText("")
        self._show(self.selected)

    def _show(self, name: str | None) -> None:
        if name is None:
            return
        config = self.cloud.provider(name)
        kind = "built-in" if name in BUILTIN else "your endpoint"
        api = "OpenAI-compatible" if config.api == "openai" else "Anthropic Messages"
        self.title.setText(f"{config.label or name} — {api} API ({kind})")
        self.enabled_box.blockSignals(True)
        self.enabled_box.setChecked(config.enabled)
        self.enabled_box.blockSignals(False)
        if not self.url_edit.hasFocus():
            self.url_edit.setText(config.base_url)
        self.key_source.setText(self.cloud.key_source_text(name))
        self.url_source.setText(self.cloud.base_url_text(name))
        self.url_source.setVisible(bool(self.url_source.text()))
        self.remove_key_button.setEnabled(self.cloud.key_source(name) == "keyring")
        self.remove_button.setText("Reset" if name in BUILTIN else "Remove")
        self.model_list.clear()
        models = self.cloud.cached_models(name)
        self.model_list.addItems(models)
        if not models:
            self.model_list.addItem("(not fetched yet: Refresh list asks the provider)")

    # -- actions ------------------------------------------------------------------------------

    def _try(self, action: str, fn: Callable[[], object]) -> bool:
        try:
            fn()
        except LlamasideError as exc:
            QMessageBox.warning(self, action, str(exc))
            return False
        return True

    @Slot(bool)
    def _on_enabled(self, enabled: bool) -> None:
        name = self.selected
        if name is not None:
            self._try("Cloud providers", lambda: self.cloud.set_enabled(name, enabled))

    @Slot()
    def _apply_url(self) -> None:
        name = self.selected
        if name is not None:
            url = self.url_edit.text()
            self._try("Base URL", lambda: self.cloud.set_base_url(name, url))

    @Slot()
    def _save_key(self) -> None:
        name = self.selected
        key = self.key_edit.text()
        self.key_edit.clear()  # the key never stays on screen or in the widget
        if name is not None and self._try("API key", lambda: self.cloud.save_key(name, key)):
            self.test_result.setText("Key saved in the system keyring.")

    @Slot()
    def _remove_key(self) -> None:
        name = self.selected
        if name is not None:
            self._try("API key", lambda: self.cloud.delete_key(name))

    @Slot()
    def _test(self) -> None:
        name = self.selected
        if name is not None:
            set_tone(self.test_result, None)
            self.test_result.setText("Testing…")
            self.cloud.test_connection(name)

    @Slot()
    def _refresh_models(self) -> None:
        name = self.selected
        if name is not None:
            set_tone(self.test_result, None)
            self.test_result.setText("Fetching the model list…")
            self.cloud.refresh_models(name)

    @Slot(str, str, bool, str)
    def _on_checked(self, name: str, _what: str, ok: bool, message: str) -> None:
        if name != self.selected:
            return
        set_tone(self.test_result, "success" if ok else "danger")
        self.test_result.setText(message)

    @Slot()
    def add_endpoint(self) -> None:
        """One form: name, base URL, key and API, checked as typed (prefs_endpoint)."""
        form = EndpointForm(self.cloud, self)
        form.exec()
        for row in range(self.provider_list.count()):
            item = self.provider_list.item(row)
            if form.added and item.data(NAME_ROLE) == form.added:
                self.provider_list.setCurrentItem(item)

    @Slot()
    def remove_provider(self) -> None:
        name = self.selected
        if name is None:
            return
        deleted: list[bool] = []
        if self._try("Remove", lambda: deleted.append(self.cloud.remove(name))) and any(deleted):
            self.test_result.setText(f"Removed {name} and deleted its key from the keyring.")


class ProvidersDialog(QDialog):
    """The cloud keys page in a window of its own, with Close."""

    def __init__(self, cloud: CloudService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Cloud providers")
        self.setObjectName("providersDialog")
        fit_to_screen(self, 820, 520)
        self.page = ProvidersPage(cloud, self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.page, 1)
        layout.addWidget(buttons)
