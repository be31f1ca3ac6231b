"""Model → Local API server…: the switch that serves the window's models through the OpenAI API
(services.local_server), with its address and a Copy button, the port, "allow other devices"
and its API key, what it is doing now, and the served-requests log (no text) as it grows. The
status bar says while it is on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import LlamasideError
from desktop.services.local_server import LocalServer
from desktop.ui.design import set_tone, type_font
from desktop.ui.icon_set import set_icon

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

#: The log table's columns: what a served request leaves behind (never its text).
COLUMNS = ("Time", "Client", "Model", "Status", "Tokens", "Seconds")
PRIVACY_LINE = (
    "Requests are answered by the engine on this computer; nothing of them leaves it. The log "
    "keeps no text: only the time, client, model, status, tokens and seconds."
)
NETWORK_NOTE = (
    "Other devices on your network can then use your models, with this API key only: requests "
    "without it are refused. The key is kept in the system keyring."
)


def _row(entry: dict[str, Any]) -> list[str]:
    model = str(entry.get("model") or entry.get("path") or "")
    tokens = f"{entry.get('prompt_tokens', 0)} + {entry.get('completion_tokens', 0)}"
    return [
        str(entry.get("time", ""))[11:19],
        str(entry.get("client", "")),
        model.removeprefix("local:"),
        f"{entry.get('status', '')} {entry.get('error', '')}".strip(),
        tokens,
        f"{float(entry.get('seconds', 0.0)):.2f}",
    ]


class ServerPanel(QDialog):
    """The server's panel: it shows the LocalServer's state and passes the user's choices to it.

    Attributes:
        switch: on/off. address: the base URL, with ``copy_button``. port: the port.
        other_devices: "Allow other devices on the network"; ``key_field`` shows its key,
            ``new_key_button`` makes one. status: serving, waiting requests; or why it could
            not start (``error``). log_table: the served requests, newest last.
    """

    def __init__(self, server: LocalServer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.server = server
        self.setWindowTitle("Local API server")
        self.setObjectName("serverPanel")
        self.switch = QCheckBox("Serve the local models through the OpenAI API")
        self.switch.setObjectName("serverSwitch")
        self.switch.setFont(type_font("title", self.switch.font()))
        self.address = QLineEdit()
        self.address.setReadOnly(True)
        self.address.setAccessibleName("Server address")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the address: clients use it as their base URL")
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setAccessibleName("Port")
        self.port.setMaximumWidth(self.fontMetrics().horizontalAdvance("0") * 12)
        self.other_devices = QCheckBox("Allow other devices on the network")
        self.key_field = QLineEdit()
        self.key_field.setReadOnly(True)
        self.key_field.setAccessibleName("API key")
        self.key_field.setPlaceholderText("No key yet")
        self.copy_key_button = QPushButton("Copy key")
        self.new_key_button = QPushButton("New key")
        self.new_key_button.setToolTip("Make a new key; clients with the old one are refused")
        set_icon(self.copy_button, "copy")
        set_icon(self.copy_key_button, "copy")
        for button in (self.copy_button, self.copy_key_button, self.new_key_button):
            button.setAutoDefault(False)  # Enter closes the panel, it does not copy
        for box in (self.switch, self.other_devices):  # a click beside its words misses it
            box.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.network_note = QLabel(NETWORK_NOTE)
        self.network_note.setWordWrap(True)
        self.status = QLabel()
        self.status.setObjectName("serverStatus")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setObjectName("serverError")
        set_tone(self.error, "danger")
        self.error.hide()
        self.log_table = QTableWidget(0, len(COLUMNS))
        self.log_table.setHorizontalHeaderLabels(list(COLUMNS))
        self.log_table.setAccessibleName("Served requests")
        rows = self.log_table.verticalHeader()
        rows.hide()
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)  # a log: lines, not cards
        self.log_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.log_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.log_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        privacy = QLabel(PRIVACY_LINE)
        privacy.setWordWrap(True)
        set_tone(privacy, "muted")
        self._lay_out(privacy)
        self.switch.toggled.connect(self._on_switch)
        self.copy_button.clicked.connect(lambda: self._copy(self.address.text()))
        self.copy_key_button.clicked.connect(lambda: self._copy(self.key_field.text()))
        self.new_key_button.clicked.connect(self._new_key)
        self.port.valueChanged.connect(self._on_port)
        self.other_devices.toggled.connect(self._on_other_devices)
        server.state_changed.connect(self._show_state)
        server.served.connect(self._add_entry)
        for entry in server.entries():
            self._add_entry(entry)
        self._show_key()
        self._show_state()
        self.resize(640, 560)

    def _lay_out(self, privacy: QLabel) -> None:
        address_row = QHBoxLayout()
        address_row.addWidget(self.address, 1)
        address_row.addWidget(self.copy_button)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_field, 1)
        key_row.addWidget(self.copy_key_button)
        key_row.addWidget(self.new_key_button)
        form = QFormLayout()
        form.addRow("Address", address_row)
        form.addRow("Port", self.port)
        form.addRow("", self.other_devices)
        form.addRow("API key", key_row)
        form.addRow("", self.network_note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.switch)
        layout.addLayout(form)
        layout.addSpacing(self.fontMetrics().height() // 2)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addSpacing(self.fontMetrics().height() // 2)
        heading = QLabel("Served requests")
        heading.setFont(type_font("title", heading.font()))
        layout.addWidget(heading)
        layout.addWidget(self.log_table, 1)
        layout.addWidget(privacy)
        layout.addWidget(buttons)

    # -- the user's choices ---------------------------------------------------------------------

    @Slot(bool)
    def _on_switch(self, on: bool) -> None:
        if on == self.server.running:
            return
        self.error.hide()
        try:
            if on:
                self.server.start()
            else:
                self.server.stop()
        except LlamasideError as exc:
            self.error.setText(str(exc))
            self.error.show()
        self._show_state()

    @Slot(int)
    def _on_port(self, port: int) -> None:
        if port != self.server.port:
            self.server.set_port(port)

    @Slot(bool)
    def _on_other_devices(self, allowed: bool) -> None:
        if allowed != self.server.other_devices:
            self.server.set_other_devices(allowed)

    @Slot()
    def _new_key(self) -> None:
        try:
            self.key_field.setText(self.server.new_key())
        except LlamasideError as exc:
            self.error.setText(str(exc))
            self.error.show()

    def _copy(self, text: str) -> None:
        if text:
            QGuiApplication.clipboard().setText(text)

    # -- what it shows --------------------------------------------------------------------------

    def _show_key(self) -> None:
        try:
            self.key_field.setText(self.server.key() or "")
        except LlamasideError as exc:  # no keyring here: say so where the key would be
            self.key_field.setPlaceholderText(str(exc))

    @Slot()
    def _show_state(self) -> None:
        server = self.server
        running = server.running
        for widget, value in ((self.switch, running), (self.other_devices, server.other_devices)):
            widget.blockSignals(True)
            widget.setChecked(value)
            widget.blockSignals(False)
        self.port.blockSignals(True)
        self.port.setValue(server.port)
        self.port.blockSignals(False)
        network = server.other_devices
        self.address.setText(server.address)
        # What the server was started with stays until it is switched off.
        self.port.setEnabled(not running)
        self.other_devices.setEnabled(not running)
        for part in (self.key_field, self.copy_key_button, self.new_key_button):
            part.setEnabled(network)
        self.network_note.setEnabled(network)
        self.status.setText(server_words(server))
        set_tone(self.status, "success" if running else None)

    @Slot(object)
    def _add_entry(self, entry: dict[str, Any]) -> None:
        row = self.log_table.rowCount()
        self.log_table.insertRow(row)
        for column, text in enumerate(_row(entry)):
            item = QTableWidgetItem(text)
            if column >= 3:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.log_table.setItem(row, column, item)
        self.log_table.scrollToBottom()


def server_words(server: LocalServer) -> str:
    """The server's state in a line: off, or serving where, answering what, how many wait."""
    if not server.running:
        return "Off. Switch it on to serve your local models to other programs."
    where = server.address
    if server.other_devices:
        where += f" and {server.network_address} (with the API key)"
    words = f"Serving at {where}"
    jobs = server.jobs
    if jobs.active:
        words += f" · answering with {jobs.active.removeprefix('local:')}"
    if jobs.waiting:
        words += f" · {jobs.waiting} waiting"
    return words


class ServerUi(QObject):
    """The server's place in the window: the menu action that opens the panel, the panel, and
    the status bar's "API server on" label."""

    def __init__(self, window: MainWindow, server: LocalServer) -> None:
        super().__init__(window)
        self.window = window
        self.server = server
        self.panel: ServerPanel | None = None
        self.action = QAction("Local API &server…", window)
        self.action.setObjectName("localServerAction")
        self.action.setStatusTip(
            "Serve your local models through the OpenAI API, for editors, scripts and agents"
        )
        self.action.triggered.connect(self.show_panel)
        set_icon(self.action, "local")
        model_menu = window.menus.models_action.associatedObjects()
        menu = next((m for m in model_menu if isinstance(m, QMenu)), None)
        if menu is not None:
            menu.addSeparator()
            menu.addAction(self.action)
        self.label = QLabel()
        self.label.setObjectName("serverIndicator")
        self.label.setAccessibleName("Local API server")
        window.statusBar().addPermanentWidget(self.label)
        self.label.hide()
        server.state_changed.connect(self._show_state)
        window.installEventFilter(self)
        QTimer.singleShot(0, self, self._resume)  # once the window is up

    @Slot()
    def _resume(self) -> None:
        """On again if it was on when the app last quit; if it cannot be, the status bar says
        why (the port taken meanwhile, the key gone)."""
        why = self.server.resume()
        if why:
            self.window.statusBar().showMessage(f"The local API server is off: {why}", 20_000)

    @Slot()
    def show_panel(self) -> None:
        if self.panel is None:
            self.panel = ServerPanel(self.server, self.window)
        self.panel.show()
        self.panel.raise_()
        self.panel.activateWindow()

    @Slot()
    def _show_state(self) -> None:
        server = self.server
        self.label.setVisible(server.running)
        if server.running:
            waiting = server.jobs.waiting
            self.label.setText(
                f"API server on · {server.address.removeprefix('http://')}"
                + (f" · {waiting} waiting" if waiting else "")
            )
            self.label.setToolTip(server_words(server))

    def eventFilter(self, watched: QObject, event: Any) -> bool:
        # Before the window's own close: the server stops while the engine is still there.
        if watched is self.window and event.type() == event.Type.Close:
            self.server.close()
        return False


def install_server(window: MainWindow, server: LocalServer) -> ServerUi:
    """Add the local server's menu action, panel and status to the window."""
    return ServerUi(window, server)
