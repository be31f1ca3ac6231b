"""Tools: the MCP servers of mcp.json, how each is (stopped, starting, ready, failed, off), its
tools, its last error and the end of what it wrote to stderr; adding, importing, turning off,
restarting and removing servers; the tools the user always allows; and a tool turn's limits.

Nothing here waits on a server: ToolsService starts and stops them on threads of its own and
says so with ``servers_changed`` (queued here, as it comes from those threads); a light timer
refreshes while something is starting.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QFontDatabase, QShowEvent, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import LlamasideError
from desktop.core.mcp_config import (
    McpConfigError,
    McpServerConfig,
    known_config_files,
    merge_imported,
    parse_config,
    stdio_note,
)
from desktop.core.tools import ToolSpec
from desktop.services.tools import MAX_STEPS_KEY, TIMEOUT_KEY, ToolsService
from desktop.ui.design import set_tone
from desktop.ui.screen_fit import fit_to_screen
from desktop.ui.tool_approval import breakable
from desktop.ui.tool_server_forms import (
    HTTP_NOTE,
    NAME_ROLE,
    AddServerDialog,
    ImportDialog,
    text_label,
)

#: How often the page looks again while a server is starting, and for how long after an action.
POLL_MS = 400
POLL_AFTER_ACTION_S = 3.0
#: Lines of a server's stderr shown (the service keeps its last 16 KB at most anyway).
STDERR_LINES = 300


def transport_words(config: McpServerConfig) -> str:
    return "remote address" if config.transport == "http" else "local program"


def status_words(config: McpServerConfig, status: str) -> str:
    return "off" if not config.enabled else status


def command_line(config: McpServerConfig, limit: int = 400) -> str:
    """What runs, as a person would type it (or the address), cut to ``limit`` characters and
    breakable, so a long one wraps instead of widening the page."""
    text = config.url if config.transport == "http" else shlex.join([config.command, *config.args])
    return breakable(text if len(text) <= limit else text[:limit] + " …")


def bounded_tail(text: str, lines: int = STDERR_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


class ToolsDialog(QDialog):
    """The Tools page: servers and their state, always-allowed tools, and the limits."""

    def __init__(self, tools: ToolsService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools = tools
        self.setObjectName("toolsDialog")
        self.setWindowTitle("Tools")
        fit_to_screen(self, 860, 640)
        self._poll_until = 0.0
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.refresh)
        # Both come from the service's start and stop threads: queued to this (UI) thread.
        queued = Qt.ConnectionType.QueuedConnection
        tools.servers_changed.connect(self.refresh, queued)
        tools.problem.connect(self.show_message, queued)
        self.refresh()

    # -- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        intro = text_label(
            self,
            text="Tool servers (MCP) give models tools to call. A chat uses the servers you "
            "turn on for it, and every call asks you first unless you always allow that tool.",
        )
        self.message = text_label(self, "toolsMessage")
        self.message.hide()

        self.server_list = QTreeWidget(self)
        self.server_list.setObjectName("toolServerList")
        self.server_list.setAccessibleName("Tool servers")
        self.server_list.setHeaderLabels(["Server", "State", "Runs as", "Tools"])
        self.server_list.setRootIsDecorated(False)
        self.server_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.server_list.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.server_list.currentItemChanged.connect(self._show_selected)
        self.add_button = self._button("Add server…", "addToolServerButton", self.add_server)
        self.import_button = self._button("Import…", "importToolServersButton", self.import_servers)
        self.enable_button = self._button("Disable", "enableToolServerButton", self.toggle_enabled)
        self.restart_button = self._button("Restart", "restartToolServerButton", self.restart)
        self.remove_button = self._button("Remove", "removeToolServerButton", self.remove)
        left = QVBoxLayout()
        left.addWidget(self.server_list, 1)
        for row_buttons in (
            (self.add_button, self.import_button),
            (self.enable_button, self.restart_button, self.remove_button),
        ):
            row = QHBoxLayout()
            for button in row_buttons:
                row.addWidget(button)
            row.addStretch(1)
            left.addLayout(row)

        self.title = text_label(self, "toolServerTitle", "font-weight: bold; font-size: 14px")
        self.what = text_label(self, "toolServerWhat")
        self.tool_list = QListWidget(self)
        self.tool_list.setObjectName("serverToolList")
        self.tool_list.setAccessibleName("The server's tools")
        self.tool_list.setWordWrap(True)
        self.error_label = text_label(self, "toolServerError")
        set_tone(self.error_label, "danger")
        self.error_label.setAccessibleName("Last error")
        self.stderr_view = QPlainTextEdit(self)
        self.stderr_view.setObjectName("toolServerStderr")
        self.stderr_view.setAccessibleName("What the server last wrote to stderr")
        self.stderr_view.setReadOnly(True)
        self.stderr_view.setMaximumBlockCount(STDERR_LINES)
        self.stderr_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.stderr_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.stderr_view.setMaximumHeight(110)
        right = QVBoxLayout()
        right.addWidget(self.title)
        right.addWidget(self.what)
        right.addWidget(QLabel("Tools:", self))
        right.addWidget(self.tool_list, 1)
        right.addWidget(self.error_label)
        right.addWidget(QLabel("Its stderr (the last lines):", self))
        right.addWidget(self.stderr_view)

        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(right, 1)

        allowed_box = QGroupBox("Always allowed (these run without asking)", self)
        self.allowed_list = QListWidget(allowed_box)
        self.allowed_list.setObjectName("alwaysAllowedList")
        self.allowed_list.setAccessibleName("Tools that run without asking")
        allowed_layout = QVBoxLayout(allowed_box)
        allowed_layout.addWidget(self.allowed_list)
        limits_box = QGroupBox("Limits", self)
        self.timeout_spin = QSpinBox(limits_box)
        self.timeout_spin.setObjectName("toolTimeoutSpin")
        self.timeout_spin.setAccessibleName("Seconds a tool call may take")
        self.timeout_spin.setRange(1, 3600)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setValue(round(self.tools.timeout_s))
        self.timeout_spin.valueChanged.connect(self._timeout_changed)
        self.steps_spin = QSpinBox(limits_box)
        self.steps_spin.setObjectName("toolStepsSpin")
        self.steps_spin.setAccessibleName("Model steps in one answer")
        self.steps_spin.setRange(1, 100)
        self.steps_spin.setValue(self.tools.max_steps)
        self.steps_spin.valueChanged.connect(self._steps_changed)
        limits = QFormLayout(limits_box)
        limits.addRow("Seconds per call:", self.timeout_spin)
        limits.addRow("Model steps per answer:", self.steps_spin)
        bottom = QHBoxLayout()
        bottom.addWidget(allowed_box, 2)
        bottom.addWidget(limits_box, 1)
        allowed_box.setMaximumHeight(170)
        limits_box.setMaximumHeight(170)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.message)
        layout.addLayout(body, 1)
        layout.addLayout(bottom)
        layout.addWidget(buttons)
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)  # Enter in a spin box must not press a button

    def _button(self, text: str, name: str, slot: Any) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    # -- state --------------------------------------------------------------------------------

    @property
    def selected(self) -> str | None:
        item = self.server_list.currentItem()
        return str(item.data(0, NAME_ROLE)) if item is not None else None

    def _rows(self) -> list[QTreeWidgetItem]:
        items = (
            self.server_list.topLevelItem(i) for i in range(self.server_list.topLevelItemCount())
        )
        return [item for item in items if item is not None]

    def select(self, name: str) -> None:
        for item in self._rows():
            if item.data(0, NAME_ROLE) == name:
                self.server_list.setCurrentItem(item)

    @Slot(str)
    def show_message(self, text: str, error: bool = True) -> None:
        set_tone(self.message, "danger" if error else "")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _poll_for_a_while(self) -> None:
        """An action started something: look again shortly, even before it says so."""
        self._poll_until = time.monotonic() + POLL_AFTER_ACTION_S
        self._timer.start()

    @Slot()
    def refresh(self) -> None:
        """Every server's row again (the selection kept), the selected one's details, and the
        always-allowed list."""
        current = self.selected
        starting = False
        self.server_list.blockSignals(True)
        self.server_list.clear()
        for config in self.tools.servers():
            state = self.tools.state(config.name)
            starting = starting or (config.enabled and state.status == "starting")
            count = str(len(state.tools)) if state.status == "ready" else "—"
            item = QTreeWidgetItem(
                [config.name, status_words(config, state.status), transport_words(config), count]
            )
            item.setData(0, NAME_ROLE, config.name)
            item.setToolTip(0, f"{config.name}: {command_line(config)}")
            if state.status == "failed" and config.enabled:
                item.setToolTip(1, state.last_error)
            self.server_list.addTopLevelItem(item)
            if config.name == current:
                self.server_list.setCurrentItem(item)
        rows = self._rows()
        if self.server_list.currentItem() is None and rows:
            self.server_list.setCurrentItem(rows[0])
        self.server_list.blockSignals(False)
        self._show(self.selected)
        self._show_allowed()
        if not starting and time.monotonic() > self._poll_until:
            self._timer.stop()
        elif not self._timer.isActive():
            self._timer.start()

    @Slot(QTreeWidgetItem, QTreeWidgetItem)
    def _show_selected(self, _current: object, _previous: object) -> None:
        self._show(self.selected)

    def _show(self, name: str | None) -> None:
        config = self.tools.config.server(name) if name is not None else None
        for button in (self.enable_button, self.restart_button, self.remove_button):
            button.setEnabled(config is not None)
        if config is None:
            self.title.setText("No tool servers yet" if name is None else "")
            self.what.setText("Add one, or import those of Claude Desktop, Cursor or LM Studio.")
            self.tool_list.clear()
            self.error_label.hide()
            self.stderr_view.setPlainText("")
            return
        state = self.tools.state(config.name)
        self.title.setText(f"{breakable(config.name)} — {status_words(config, state.status)}")
        self.enable_button.setText("Disable" if config.enabled else "Enable")
        self.restart_button.setEnabled(config.enabled)
        if config.transport == "http":
            self.what.setText(f"A remote address: {command_line(config)}\n{HTTP_NOTE}")
        else:
            self.what.setText(f"A program on this computer: {command_line(config)}\n{stdio_note()}")
        self._show_tools(state.tools, state.status, config.enabled)
        error = state.last_error if state.status == "failed" else ""
        error = breakable(error if len(error) <= 800 else error[:800] + " …")
        self.error_label.setText(f"Last error: {error}" if error else "")
        self.error_label.setVisible(bool(error))
        tail = bounded_tail(state.stderr_tail)
        if tail != self.stderr_view.toPlainText():  # a timer tick must not reset the scrolling
            self.stderr_view.setPlainText(tail)
            # Its last words in sight, from the start of the line (not scrolled sideways).
            self.stderr_view.moveCursor(QTextCursor.MoveOperation.End)
            self.stderr_view.moveCursor(QTextCursor.MoveOperation.StartOfBlock)
        self.stderr_view.setPlaceholderText(
            "Remote servers have no stderr." if config.transport == "http" else "Nothing yet."
        )

    def _show_tools(self, specs: tuple[ToolSpec, ...], status: str, enabled: bool) -> None:
        """The server's tools, name and the first line of what each does; the list is left as
        it is when nothing changed (a timer tick must not lose the user's place)."""
        rows = [
            (f"{s.name} — {first[:200]}" if (first := _first_line(s.description)) else s.name)
            for s in specs
        ]
        if not specs:
            rows = [
                {
                    "ready": "It offers no tools.",
                    "starting": "Starting…",
                    "failed": "It failed to start (see below).",
                }.get(status, "Its tools show once it runs." if enabled else "It is off.")
            ]
        if rows == [self.tool_list.item(i).text() for i in range(self.tool_list.count())]:
            return
        self.tool_list.clear()
        self.tool_list.addItems(rows)
        for i, spec in enumerate(specs):
            self.tool_list.item(i).setToolTip(spec.description)

    def _show_allowed(self) -> None:
        keys = sorted(self.tools.always_allowed)
        shown = [
            self.allowed_list.item(i).data(NAME_ROLE) for i in range(self.allowed_list.count())
        ]
        if shown == keys and (keys or self.allowed_list.count()):
            return
        self.allowed_list.clear()
        for key in keys:
            server, _, tool = key.partition("/")
            item = QListWidgetItem(self.allowed_list)
            item.setData(NAME_ROLE, key)
            row = QWidget(self.allowed_list)
            row_layout = QHBoxLayout(row)
            row_layout.setContentsMargins(4, 1, 4, 1)
            label = QLabel(f"{tool} on {server}" if tool else key, row)
            label.setTextFormat(Qt.TextFormat.PlainText)
            ask = QPushButton("Ask every time", row)
            ask.setObjectName("askEveryTimeButton")
            ask.setAccessibleName(f"Ask every time before {key}")
            ask.setAutoDefault(False)
            ask.clicked.connect(lambda _checked=False, k=key: self.revoke(k))
            row_layout.addWidget(label, 1)
            row_layout.addWidget(ask)
            item.setSizeHint(row.sizeHint())
            self.allowed_list.setItemWidget(item, row)
        if not keys:
            self.allowed_list.addItem("Nothing: every tool call asks you first.")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()  # a chat may have added an "always allow" since the page was built

    # -- actions ------------------------------------------------------------------------------

    def _save(self, action: str, fn: Any) -> bool:
        """Run a change that writes mcp.json; its failure is said on the page. The page shows
        the change at once (the service's own signal arrives queued, later)."""
        try:
            fn()
        except (LlamasideError, OSError) as exc:
            self.show_message(f"{action}: {exc}")
            return False
        finally:
            self.refresh()
        return True

    @Slot()
    def add_server(self) -> None:
        dialog = AddServerDialog({s.name for s in self.tools.servers()}, self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.server is None:
            return
        server = dialog.server
        if self._save("Add server", lambda: self.tools.save(self.tools.config.with_server(server))):
            self.show_message(f'Added "{server.name}"; it is starting.', error=False)
            self.tools.start_in_background([server.name])
            self.select(server.name)
            self._poll_for_a_while()

    def import_candidates(self) -> list[tuple[str, Path, int]]:
        """The other apps' MCP files on this computer that hold servers: (app, path, count)."""
        found: list[tuple[str, Path, int]] = []
        for app, where in known_config_files(sys.platform, Path.home(), os.environ):
            path = Path(where)
            try:
                servers = parse_config(path.read_text(encoding="utf-8"), str(path), strict=False)
            except (OSError, UnicodeDecodeError, McpConfigError):
                continue  # not there, or not readable: nothing to offer from it
            found.append((app, path, len(servers.servers)))
        return found

    @Slot()
    def import_servers(self) -> None:
        dialog = ImportDialog(self.import_candidates(), self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.chosen is None:
            return
        self.import_file(dialog.chosen)

    def import_file(self, path: Path) -> None:
        """Merge another app's servers into ours and say what happened."""
        try:
            imported = parse_config(path.read_text(encoding="utf-8"), str(path), strict=False)
        except (OSError, UnicodeDecodeError, McpConfigError) as exc:
            self.show_message(f"Import: {exc}")
            return
        merged = merge_imported(self.tools.servers(), imported.servers)
        config = replace(self.tools.config, servers=merged.servers)
        if not self._save("Import", lambda: self.tools.save(config)):
            return
        said = [
            f"Added {len(merged.added)} from {path.name}: {', '.join(merged.added)}."
            if merged.added
            else f"Nothing new in {path}."
        ]
        said += [
            f'"{old}" is called "{new}" here (the name was taken).'
            for old, new in merged.renamed.items()
        ]
        if merged.skipped:
            said.append(f"Already here: {', '.join(merged.skipped)}.")
        said += list(imported.problems)
        self.show_message(" ".join(said), error=False)
        self.tools.start_in_background(merged.added)
        self._poll_for_a_while()

    @Slot()
    def toggle_enabled(self) -> None:
        config = self.tools.config.server(self.selected or "")
        if config is not None:
            on = not config.enabled
            if self._save(
                "Enable" if on else "Disable", lambda: self.tools.set_enabled(config.name, on)
            ):
                self._poll_for_a_while()

    @Slot()
    def restart(self) -> None:
        name = self.selected
        if name is not None:
            self.tools.restart(name)
            self._poll_for_a_while()

    @Slot()
    def remove(self) -> None:
        name = self.selected
        if name is None:
            return
        ask = QMessageBox(self)
        ask.setObjectName("removeToolServerQuestion")
        ask.setIcon(QMessageBox.Icon.Question)
        ask.setWindowTitle("Remove a tool server")
        ask.setText(f'Remove "{name}" from mcp.json? Chats that use it lose its tools.')
        remove = ask.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        ask.addButton(QMessageBox.StandardButton.Cancel)
        ask.exec()
        if ask.clickedButton() is not remove:
            return

        def drop() -> None:
            # Turned off first, so its program is stopped (on the service's thread), then gone.
            self.tools.set_enabled(name, False)
            self.tools.save(self.tools.config.without_server(name))

        if self._save("Remove", drop):
            self.show_message(f'Removed "{name}".', error=False)

    @Slot(str)
    def revoke(self, key: str) -> None:
        self.tools.revoke(key)
        self._show_allowed()

    @Slot(int)
    def _timeout_changed(self, value: int) -> None:
        self.tools.settings.set(TIMEOUT_KEY, value)

    @Slot(int)
    def _steps_changed(self, value: int) -> None:
        self.tools.settings.set(MAX_STEPS_KEY, value)
