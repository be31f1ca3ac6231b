"""Model → Local API server… driven as a user: open it, switch it on, copy the address, watch a
request from the official openai SDK appear in the log; a port in use; the API key that other
devices need. The real window, engine child and keyring."""

from __future__ import annotations

import socket
import threading
from typing import Any

import openai
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QLabel, QMenu, QTableWidget
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.backends.local_models import BUNDLED_ID
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.ui.main_window import MainWindow
from desktop.ui.server_panel import PRIVACY_LINE, ServerPanel, ServerUi

TIMEOUT_MS = 90_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _open_panel(window: MainWindow, qtbot: QtBot) -> ServerPanel:
    action = window.findChild(QAction, "localServerAction")
    assert action is not None
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    assert isinstance(model_menu, QMenu) and action in model_menu.actions()
    action.trigger()
    panel = window.findChild(ServerPanel)
    assert panel is not None
    qtbot.waitExposed(panel)
    return panel


def _cells(table: QTableWidget, row: int) -> list[str]:
    items = [table.item(row, column) for column in range(table.columnCount())]
    return [item.text() if item is not None else "" for item in items]


def _indicator(window: MainWindow) -> QLabel:
    label = window.statusBar().findChild(QLabel, "serverIndicator")
    assert label is not None
    return label


def test_switch_on_copy_the_address_and_see_a_request_in_the_log(
    window: MainWindow, qtbot: QtBot
) -> None:
    panel = _open_panel(window, qtbot)
    assert not panel.switch.isChecked()
    assert any(label.text() == PRIVACY_LINE for label in panel.findChildren(QLabel))
    port = _free_port()
    panel.port.setValue(port)
    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
    assert panel.switch.isChecked(), panel.error.text()
    address = f"http://127.0.0.1:{port}/v1"
    assert panel.address.text() == address
    assert panel.status.text().startswith(f"Serving at {address}")
    assert not panel.port.isEnabled()  # what it started with stays until switched off
    indicator = _indicator(window)
    assert indicator.isVisible() and f"127.0.0.1:{port}" in indicator.text()
    qtbot.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == address
    rows = panel.log_table.rowCount()
    results: list[Any] = []

    def ask() -> None:
        with openai.OpenAI(base_url=address, api_key="unused", max_retries=0) as client:
            results.append(
                client.chat.completions.create(
                    model=BUNDLED_ID,
                    messages=[{"role": "user", "content": "Name a zebra parade secret"}],
                    max_tokens=8,
                    temperature=0,
                )
            )

    thread = threading.Thread(target=ask)
    thread.start()
    qtbot.waitUntil(lambda: panel.log_table.rowCount() == rows + 1, timeout=TIMEOUT_MS)
    thread.join(timeout=30)
    assert results and results[0].choices[0].message.content
    cells = _cells(panel.log_table, rows)
    assert cells[1] == "127.0.0.1"
    assert cells[2] == BUNDLED_ID.removeprefix("local:")
    assert cells[3] == "200"
    assert cells[4].split(" + ")[1] != "0"
    assert not any("zebra" in cell for cell in cells)  # never the text
    # Switched off: the status bar says nothing any more, the port can change again.
    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
    assert not panel.switch.isChecked()
    assert not indicator.isVisible()
    assert panel.port.isEnabled()
    assert panel.status.text().startswith("Off")


def test_a_port_in_use_is_said_in_the_panel(window: MainWindow, qtbot: QtBot) -> None:
    panel = _open_panel(window, qtbot)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        panel.port.setValue(port)
        qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
        assert not panel.switch.isChecked()
        assert panel.error.isVisible()
        assert f"Port {port} is in use" in panel.error.text()
        assert not _indicator(window).isVisible()
    # Another port works.
    panel.port.setValue(_free_port())
    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
    assert panel.switch.isChecked() and not panel.error.isVisible()


def test_other_devices_need_the_key_from_the_keyring(
    window: MainWindow, qtbot: QtBot, secret_service: dict[str, str]
) -> None:
    panel = _open_panel(window, qtbot)
    panel.port.setValue(_free_port())
    assert not panel.new_key_button.isEnabled()  # loopback: no key in play
    qtbot.mouseClick(panel.other_devices, Qt.MouseButton.LeftButton)
    assert panel.new_key_button.isEnabled() and panel.key_field.text() == ""
    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
    assert not panel.switch.isChecked()
    assert "API key" in panel.error.text() and "New key" in panel.error.text()
    qtbot.mouseClick(panel.new_key_button, Qt.MouseButton.LeftButton)
    key = panel.key_field.text()
    assert key.startswith("sk-llamaside-")
    qtbot.mouseClick(panel.copy_key_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == key
    # The key is the keyring's, so `llamaside serve` uses the same one.
    from desktop.backends import secrets
    from desktop.backends.serve_policy import KEY_NAME

    assert secrets.get_secret(KEY_NAME) == key
    ui = window.findChild(ServerUi)
    assert ui is not None and ui.server.other_devices


def test_the_server_is_on_again_at_the_next_start_until_switched_off(
    window: MainWindow, qtbot: QtBot, home: AppPaths
) -> None:
    panel = _open_panel(window, qtbot)
    port = _free_port()
    panel.port.setValue(port)
    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)
    assert panel.switch.isChecked(), panel.error.text()
    window.close()  # quitting with it on

    again = build_window(home)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: _indicator(again).isVisible(), timeout=10_000)
    assert f"127.0.0.1:{port}" in _indicator(again).text()
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0
    ) as client:
        assert BUNDLED_ID in [m.id for m in client.models.list().data]
    panel = _open_panel(again, qtbot)
    qtbot.mouseClick(panel.switch, Qt.MouseButton.LeftButton)  # switched off by the user
    assert not panel.switch.isChecked()
    again.close()
    again.chat.store.close()

    third = build_window(home)
    qtbot.addWidget(third)
    third.show()
    qtbot.wait(200)
    assert not _indicator(third).isVisible()
    third.close()
    third.chat.store.close()


def test_a_port_taken_while_the_app_was_closed_is_said_in_the_status_bar(
    home: AppPaths, qtbot: QtBot
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        settings = Settings(home.settings)
        settings.set("server_port", port)
        settings.set("server_on", True)
        win = build_window(home)
        qtbot.addWidget(win)
        win.show()
        bar = win.statusBar()
        qtbot.waitUntil(lambda: "local API server is off" in bar.currentMessage(), timeout=5000)
        assert f"Port {port} is in use" in bar.currentMessage()
        assert not _indicator(win).isVisible()
        win.close()
        win.chat.store.close()
