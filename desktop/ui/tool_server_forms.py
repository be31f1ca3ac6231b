"""The small forms of the Tools page: a new server (a program with its arguments, or an
address) checked as mcp.json would be read, and the choice of another app's MCP file to import.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.mcp_config import McpConfigError, McpServerConfig, server_from_entry, stdio_note
from desktop.ui.design import set_tone

NAME_ROLE = Qt.ItemDataRole.UserRole
HTTP_NOTE = (
    "Reached over the network: never used in chats locked to this computer, nor while "
    "Llamaside is offline."
)


def text_label(parent: QWidget, name: str = "", style: str = "", text: str = "") -> QLabel:
    """A wrapping, selectable label of plain text (server names and errors are not markup)."""
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def line_edit(parent: QWidget, name: str, placeholder: str, said: str) -> QLineEdit:
    """A field with its object name, example text, and the name a screen reader says."""
    edit = QLineEdit(parent)
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    edit.setAccessibleName(said)
    return edit


def ok_cancel(dialog: QDialog, ok_text: str) -> tuple[QDialogButtonBox, QPushButton]:
    """The dialog's OK (named ``ok_text``) and Cancel; Cancel rejects."""
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, dialog
    )
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(ok_text)
    buttons.rejected.connect(dialog.reject)
    return buttons, ok


class AddServerDialog(QDialog):
    """Name and command (with arguments) or address of a new server; ``server`` is the
    result, checked as mcp.json would be read."""

    def __init__(self, taken: set[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addToolServerDialog")
        self.setWindowTitle("Add a tool server")
        self.resize(560, 300)
        self.taken = taken
        self.server: McpServerConfig | None = None
        self.name_edit = line_edit(self, "serverNameEdit", "e.g. files", "Server name")
        self.kind_combo = QComboBox(self)
        self.kind_combo.setObjectName("serverKindCombo")
        self.kind_combo.setAccessibleName("Kind of server")
        self.kind_combo.addItem("A program on this computer (stdio)", "stdio")
        self.kind_combo.addItem("A remote address (Streamable HTTP)", "http")
        self.command_edit = line_edit(
            self, "serverCommandEdit", "e.g. npx or /usr/bin/python3", "Program to run"
        )
        self.args_edit = line_edit(
            self,
            "serverArgsEdit",
            'e.g. -y @modelcontextprotocol/server-filesystem "~/My notes"',
            "Program arguments",
        )
        self.url_edit = line_edit(
            self, "serverUrlEdit", "https://example.com/mcp", "Server address"
        )
        self.note = text_label(self)
        self.error = text_label(self, "addServerError")
        set_tone(self.error, "danger")  # the theme's danger colour, in light and dark
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        form.addRow("Kind:", self.kind_combo)
        form.addRow("Program:", self.command_edit)
        form.addRow("Arguments:", self.args_edit)
        form.addRow("Address:", self.url_edit)
        self.form = form
        buttons, self.ok_button = ok_cancel(self, "Add")
        buttons.accepted.connect(self._check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.error)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    @Slot()
    def _kind_changed(self) -> None:
        http = self.kind_combo.currentData() == "http"
        for field, shown in (
            (self.command_edit, not http),
            (self.args_edit, not http),
            (self.url_edit, http),
        ):
            self.form.setRowVisible(field, shown)
        self.note.setText(HTTP_NOTE if http else stdio_note())

    @Slot()
    def _check(self) -> None:
        """Read the form as an mcp.json entry would be read; stay open with the reason if not."""
        name = self.name_edit.text().strip()
        entry: dict[str, Any]
        try:
            if not name:
                raise McpConfigError("Give the server a name.")
            if name in self.taken:
                raise McpConfigError(f'A server is already called "{name}"; choose another name.')
            if self.kind_combo.currentData() == "http":
                entry = {"url": self.url_edit.text().strip()}
            else:
                try:
                    args = shlex.split(self.args_edit.text())
                except ValueError as exc:
                    raise McpConfigError(f"The arguments could not be read ({exc}).") from None
                entry = {"command": self.command_edit.text().strip(), "args": args}
            self.server = server_from_entry(name, entry, "the form")
        except McpConfigError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class ImportDialog(QDialog):
    """The other apps' MCP files found on this computer, one to import."""

    def __init__(self, found: list[tuple[str, Path, int]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importToolServersDialog")
        self.setWindowTitle("Import tool servers")
        self.resize(620, 300)
        intro = text_label(
            self,
            text="Servers from another app's file are added after yours; one you already have "
            "is skipped, and a different one with a name you use gets a new name.",
        )
        self.files = QListWidget(self)
        self.files.setObjectName("importFileList")
        self.files.setAccessibleName("MCP files found on this computer")
        for app, path, count in found:
            item = QListWidgetItem(f"{app}: {path} ({count} servers)")
            item.setData(NAME_ROLE, str(path))
            item.setToolTip(str(path))
            self.files.addItem(item)
        if not found:
            self.files.addItem("No Claude Desktop, Cursor or LM Studio MCP file was found.")
        self.files.setCurrentRow(0)
        buttons, self.ok_button = ok_cancel(self, "Import")
        self.ok_button.setEnabled(bool(found))
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.files, 1)
        layout.addWidget(buttons)

    @property
    def chosen(self) -> Path | None:
        item = self.files.currentItem()
        path = item.data(NAME_ROLE) if item is not None else None
        return Path(path) if path else None
