"""Adding an endpoint of your own (vLLM, llama-server, Ollama, a company gateway) in one form:
its name, base URL, API key and the API it speaks, each checked as it is typed, with what is
wrong said under the field rather than in a message box after the fact."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import LlamasideError
from desktop.services.cloud import CloudService
from desktop.ui.design import set_tone

#: The APIs an endpoint may speak: the setting's value and what the form calls it.
APIS = (
    ("openai", "OpenAI-compatible (Chat Completions: vLLM, llama-server, Ollama, LM Studio…)"),
    ("anthropic", "Anthropic Messages"),
)


def _problem_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setAccessibleName(name)
    label.setWordWrap(True)
    set_tone(label, "danger")
    label.hide()
    return label


class EndpointForm(QDialog):
    """Owns the form for one new endpoint; Add stays off until the name and URL are usable, and
    adds it (and stores its key in the keyring) through the cloud service.

    Attributes:
        added: the new endpoint's name, once added ("" before).
    """

    def __init__(self, cloud: CloudService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cloud = cloud
        self.added = ""
        self.setWindowTitle("Add endpoint")
        self.setObjectName("endpointForm")
        intro = QLabel(
            "A server of your own or a gateway that speaks a cloud API. Its models are listed "
            "as name:model; nothing is sent there until you turn it on and pick one.",
            self,
        )
        intro.setWordWrap(True)
        self.name_edit = QLineEdit(self)
        self.name_edit.setAccessibleName("Endpoint name")
        self.name_edit.setPlaceholderText("e.g. my-vllm")
        self.name_problem = _problem_label(self, "What is wrong with the name")
        self.url_edit = QLineEdit(self)
        self.url_edit.setAccessibleName("Endpoint base URL")
        self.url_edit.setPlaceholderText("e.g. http://gpu-box:8000/v1")
        self.url_problem = _problem_label(self, "What is wrong with the base URL")
        self.key_edit = QLineEdit(self)
        self.key_edit.setAccessibleName("Endpoint API key")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("Optional: kept in the system keyring only")
        self.api_combo = QComboBox(self)
        self.api_combo.setAccessibleName("The API it speaks")
        for value, label in APIS:
            self.api_combo.addItem(label, value)
        self.error_label = _problem_label(self, "Why the endpoint was not added")
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        form.addRow("", self.name_problem)
        form.addRow("Base URL:", self.url_edit)
        form.addRow("", self.url_problem)
        form.addRow("API key:", self.key_edit)
        form.addRow("Speaks:", self.api_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.add_button = QPushButton("Add", self)
        self.add_button.setAccessibleName("Add the endpoint")
        buttons.addButton(self.add_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.rejected.connect(self.reject)
        self.add_button.clicked.connect(self._add)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.name_edit.textChanged.connect(self._check)
        self.url_edit.textChanged.connect(self._check)
        self.resize(560, self.sizeHint().height())
        self._check()

    def name_problem_text(self) -> str:
        """What is wrong with the name as typed ("" when it can be used)."""
        name = self.name_edit.text().strip()
        if not name:
            return "A short name is needed: it starts the model ids (my-vllm:model)."
        if ":" in name or " " in name:
            return "No colons or spaces: the name is the part of a model id before the colon."
        if name == "local":
            return "“local” means this computer; choose another name."
        if any(config.name == name for config in self.cloud.providers().all()):
            return f"There is a provider named {name} already."
        return ""

    def url_problem_text(self) -> str:
        """What is wrong with the base URL as typed ("" when it can be used)."""
        url = self.url_edit.text().strip()
        if not url:
            return "The address of its API, e.g. http://gpu-box:8000/v1."
        if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) < 1:
            return "It must start with http:// or https://."
        return ""

    @Slot()
    def _check(self) -> None:
        """Say what is wrong under each field, once something was typed in it; Add waits."""
        name_problem, url_problem = self.name_problem_text(), self.url_problem_text()
        for edit, label, problem in (
            (self.name_edit, self.name_problem, name_problem),
            (self.url_edit, self.url_problem, url_problem),
        ):
            label.setText(f"⚠ {problem}" if problem else "")
            label.setVisible(bool(problem) and bool(edit.text()))
        self.add_button.setEnabled(not name_problem and not url_problem)
        self.error_label.hide()

    @Slot()
    def _add(self) -> None:
        name = self.name_edit.text().strip()
        url = self.url_edit.text().strip()
        key = self.key_edit.text()
        self.key_edit.clear()  # the key never stays in the widget
        try:
            self.cloud.add_endpoint(name, url, str(self.api_combo.currentData()))
        except LlamasideError as exc:
            self.error_label.setText(f"⚠ {exc}")
            self.error_label.show()
            return
        self.added = name
        if key:
            try:
                self.cloud.save_key(name, key)
            except LlamasideError as exc:  # the endpoint stays; the page says where keys go
                self.error_label.setText(f"⚠ Added {name}, but its key was not saved: {exc}")
                self.error_label.show()
                self.add_button.setEnabled(False)
                return
        self.accept()
