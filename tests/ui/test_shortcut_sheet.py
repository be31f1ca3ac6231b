"""Help → Keyboard shortcuts lists the chat's own keys too (Alt+Up / Alt+Down between
messages, Menu or Shift+F10 for a message's actions), each shortcut once."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from desktop.ui.main_window import MainWindow


def test_the_sheet_lists_the_chats_keys_once(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.keyClick(window.input_box, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    sheet = window.findChild(QMessageBox, "shortcutSheet")
    assert isinstance(sheet, QMessageBox)
    shown = sheet.text()
    for what, keys in (
        ("Previous message in the chat", "Alt+Up"),
        ("Next message in the chat", "Alt+Down"),
        ("The message's actions (in the chat)", "Menu or Shift+F10"),
    ):
        row = f"<td>{what.replace(chr(39), '&#x27;')}</td><td>&nbsp;&nbsp;<b>{keys}</b></td>"
        assert shown.count(row) == 1, (row, shown)
    rows = window.shortcut_list()
    keys_listed = [keys for _what, keys in rows]
    assert len(keys_listed) == len(set(keys_listed)), rows  # each shortcut once
    whats = [what for what, _keys in rows]
    assert len(whats) == len(set(whats)), rows
    sheet.close()
