"""History in the real window, offscreen: search hits that open their chat at the message,
pins, duplicates, export -> import through the File menu's functions, and a remote image in
stored chat text that causes no request to a server of ours."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import Role
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from tests.cloudserver import CloudServer


def titles(window: MainWindow) -> list[str]:
    items = [window.conversation_list.item(i) for i in range(window.conversation_list.count())]
    return [i.text() for i in items if i is not None]


def test_search_hit_opens_its_chat_at_the_message(window: MainWindow, qtbot: QtBot) -> None:
    store = window.chat.store
    long_chat = store.create_conversation("Long chat")
    target = 0
    for i in range(120):
        text = "The marmot hid under the rock." if i == 60 else f"Filler message number {i}."
        message = store.add_message(long_chat.id, Role.USER if i % 2 else Role.ASSISTANT, text)
        if i == 60:
            target = message.id
    other = store.create_conversation("Other")
    window.open_conversation(other.id)

    qtbot.keyClicks(window.sidebar.search_edit, "marmo")
    hits = window.sidebar.hits
    qtbot.waitUntil(lambda: hits.isVisible() and hits.count() == 1, timeout=5_000)
    assert not window.conversation_list.isVisible()  # the hits are shown in its place
    item = hits.item(0)
    label = hits.itemWidget(item)
    assert isinstance(label, QLabel)
    assert "<b>marmot</b>" in label.text() and "Long chat" in label.text()
    window.sidebar._on_item(item)
    assert window.conversation_id == long_chat.id
    bar = window.chat_view.verticalScrollBar()
    qtbot.waitUntil(lambda: 0 < bar.value() < bar.maximum(), timeout=5_000)  # at the hit
    assert target > 0

    window.sidebar.search_edit.clear()
    qtbot.waitUntil(window.conversation_list.isVisible, timeout=5_000)
    assert not hits.isVisible()
    assert titles(window)[:3] == ["Today", "Other", "Long chat"]
    assert window.conversation_list.currentItem().text() == "Long chat"  # the open chat


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_search_snippets_are_readable_in_both_themes(
    window: MainWindow, qtbot: QtBot, theme: str
) -> None:
    """A hit's snippet is dimmed from the theme's text colour, never a fixed grey that all but
    vanishes on the dark background."""
    store = window.chat.store
    chat = store.create_conversation("Rodents")
    store.add_message(chat.id, Role.USER, "Where does the marmot sleep?")
    window.set_theme(theme, save=False)
    try:
        qtbot.keyClicks(window.sidebar.search_edit, "marmo")
        hits = window.sidebar.hits
        qtbot.waitUntil(lambda: hits.count() == 1, timeout=5_000)
        label = hits.itemWidget(hits.item(0))
        assert isinstance(label, QLabel)
        found = re.search(r"color:(#[0-9a-f]{6})", label.text())
        assert found is not None, label.text()
        colour = QColor(found.group(1))
        base = hits.palette().color(QPalette.ColorRole.Base)
        assert abs(colour.lightness() - base.lightness()) > 90, (colour.name(), base.name())
    finally:
        window.set_theme("light", save=False)


def test_switching_chats_selects_without_reading_the_listing_again(
    window: MainWindow, qtbot: QtBot
) -> None:
    """Opening a chat changes nothing in the list: one already listed is only selected (with
    10,000 chats scrolled in, reading the listing again took 50-100 ms a switch). One that is
    not listed yet is read in."""
    store = window.chat.store
    first, second = store.create_conversation("First"), store.create_conversation("Second")
    window.sidebar.refresh()
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    listing = window.conversation_list
    try:
        for title, chat in (("First", first), ("Second", second)):
            item = next(
                listing.item(row)
                for row in range(listing.count())
                if listing.item(row).text() == title
            )
            window.sidebar._on_item(item)  # a click on it
            assert window.conversation_id == chat.id
            assert listing.currentItem().text() == title
        window.next_chat_action.trigger()  # the one below Second
        assert window.conversation_id == first.id
        assert listing.currentItem().text() == "First"
        assert not [s for s in statements if s.startswith("SELECT id, title, updated, pinned")]
        # Written behind the window's back (as another window of the app would): not listed
        # yet, so moving to it reads the listing.
        third = store.create_conversation("Third")
        window.open_conversation(third.id, listing_changed=False)
        assert [s for s in statements if s.startswith("SELECT id, title, updated, pinned")]
        assert listing.currentItem().text() == "Third"
    finally:
        store.db.conn.set_trace_callback(None)


def test_pin_duplicate_export_import(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    store = window.chat.store
    first = store.create_conversation("First")
    store.add_message(first.id, Role.USER, "Hello 🦙")
    store.add_message(first.id, Role.ASSISTANT, "Hi!", model="local:smollm2-135m-instruct")
    store.create_conversation("Second")
    window.open_conversation(first.id)
    window.pin_action.setChecked(True)
    assert titles(window)[:2] == ["Pinned", "First"]

    window.duplicate_action.trigger()
    assert window.chat.store.get_conversation(window.conversation_id or 0).title == "First (copy)"

    exported = window.export_chats(all_chats=True, path=tmp_path / "all.json")
    assert exported is not None
    markdown = window.export_chats(all_chats=False, path=tmp_path / "one.md")
    assert markdown is not None and "Hello 🦙" in markdown.read_text()
    before = json.loads(exported.read_text())

    # Into a fresh profile: the same chats, exactly.
    other_home = AppPaths(*(tmp_path / "other" / n for n in ("data", "config", "cache", "logs")))
    other = build_window(other_home)
    qtbot.addWidget(other)
    ids = other.import_chats(exported)
    assert len(ids) == len(before["conversations"]) == 4  # with the start-up "New chat"
    assert other.chat.store.export_conversations(ids) == before
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    assert other.import_chats(bad) == []
    assert "neither a Llamaside chat export" in other.banner.label.text()
    other.close()
    other.chat.store.close()


def test_remote_images_in_a_chat_are_never_fetched(window: MainWindow, qtbot: QtBot) -> None:
    with CloudServer() as server:
        store = window.chat.store
        conversation = store.create_conversation("Images")
        store.add_message(
            conversation.id,
            Role.ASSISTANT,
            f"![pixel]({server.base_url}/pixel.png)\n\n"
            f'<img src="{server.base_url}/img.png"> <iframe src="{server.base_url}/f"></iframe>',
            model="local:x",
        )
        window.open_conversation(conversation.id)
        qtbot.wait(300)
        window.chat_view.grab()  # painted, images included if they were ever to load
        assert server.connections == 0


def test_geometry_last_chat_and_theme_come_back(home: AppPaths, qtbot: QtBot) -> None:
    first = build_window(home)
    qtbot.addWidget(first)
    first.show()
    store = first.chat.store
    older = store.create_conversation("Older chat")
    store.create_conversation("Newer chat")
    first.open_conversation(older.id)
    first.resize(first.minimumSizeHint().width(), 500)
    first.set_theme("dark")
    assert first.theme_actions["dark"].isChecked()
    first.close()
    store.close()

    again = build_window(home)
    qtbot.addWidget(again)
    # The height comes back (the offscreen screen, 800 px wide, may clamp the width).
    assert again.height() == 500
    assert again.conversation_id == older.id  # not simply the newest
    assert again.theme_actions["dark"].isChecked()
    window_colour = QApplication.palette().color(QPalette.ColorRole.Window)
    assert window_colour.lightness() < 80  # dark even where the platform has no dark theme
    again.set_theme("light", save=False)
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 180
    again.set_theme("system", save=False)
    again.close()
    again.chat.store.close()


def test_shortcuts_are_listed_and_work(window: MainWindow, qtbot: QtBot) -> None:
    sheet = dict(window.shortcut_list())
    for what, keys in (
        ("New chat", "Ctrl+N"),
        ("Search all chats", "Ctrl+K"),
        ("Stop generating", "Esc"),
        ("Keyboard shortcuts", "Ctrl+/"),
        ("Send the message", "Enter"),
    ):
        assert sheet.get(what) == keys, (what, sheet)
    for what, keys in (
        ("Regenerate the last answer", "Ctrl+R"),
        ("Focus the message box", "Ctrl+L"),
        ("Next chat", "Ctrl+PgDown"),
    ):
        assert sheet.get(what) == keys, (what, sheet)
    before = len(window.chat.store.list_conversations())
    qtbot.keyClick(window.input_box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert len(window.chat.store.list_conversations()) == before + 1
    qtbot.keyClick(window.input_box, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search_edit.hasFocus()
    qtbot.keyClick(window.sidebar.search_edit, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.input_box.hasFocus()
    newest = window.conversation_id
    qtbot.keyClick(window.input_box, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert window.conversation_id != newest
    window.show_shortcuts()
    assert window.findChild(QMessageBox, "shortcutSheet") is not None


def test_edit_and_regenerate_keep_the_old_versions(window: MainWindow, qtbot: QtBot) -> None:
    window.chat.sampling = SamplingParams(temperature=0.8, seed=1, max_tokens=12)
    window.input_box.setPlainText("Name a fruit.")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        window.send()
    cid = window.conversation_id or 0
    question, answer = window.chat.store.messages(cid)
    assert "Edit" in window.chat_view.toPlainText()
    assert "Regenerate" in window.chat_view.toPlainText()

    # Edit the question (through its link's signal): the new version gets its own answer.
    window.chat_view.action_requested.emit("edit", question.id, 0)
    assert window.input_box.toPlainText() == "Name a fruit."
    assert window.edit_label.isVisibleTo(window)
    window.input_box.setPlainText("Name a vegetable.")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        window.send()
    path = window.chat.store.messages(cid)
    assert [m.content for m in path][:1] == ["Name a vegetable."]
    window.open_conversation(cid)
    assert "2/2" in window.chat_view.toPlainText()

    # Regenerate the new answer: a second version of it, the first kept.
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        window.chat_view.action_requested.emit("regenerate", path[1].id, 0)
    latest = window.chat.store.messages(cid)
    assert latest[0].id == path[0].id and latest[1].id != path[1].id
    assert window.chat.store.versions(cid)[latest[1].id].count == 2

    # Back to the first question: its own answer is still there, unchanged.
    window.chat_view.action_requested.emit("version", path[0].id, question.id)
    shown = window.chat.store.messages(cid)
    assert [m.id for m in shown] == [question.id, answer.id]
    assert "Name a fruit." in window.chat_view.toPlainText()
    assert len(window.chat.store.all_messages(cid)) == 5

    # Esc cancels an edit without sending.
    window.chat_view.action_requested.emit("edit", question.id, 0)
    window.stop_action.trigger()
    assert window.editing is None and window.input_box.toPlainText() == ""


def test_presets_picker_and_editor(window: MainWindow, qtbot: QtBot) -> None:
    from desktop.ui.presets_dialog import PresetsDialog

    picker = window.preset_picker
    names = [picker.itemText(i) for i in range(picker.count())]
    assert names[:4] == ["Balanced", "Llama 4 (recommended)", "Precise", "Creative"]
    assert picker.currentText() == "Balanced"  # SmolLM2 has no recommended preset of its own
    picker.setCurrentIndex(picker.findData("Precise"))
    picker.activated.emit(picker.currentIndex())
    conversation = window.chat.store.get_conversation(window.conversation_id or 0)
    assert conversation.system_prompt.startswith("Answer accurately")
    assert conversation.params["temperature"] == 0.2

    dialog = PresetsDialog(window.chat, "Precise", window)
    qtbot.addWidget(dialog)
    assert not dialog.delete_button.isEnabled()  # built in
    dialog.name_edit.setText("Precise")
    dialog.save()
    assert "built in" in dialog.message.text()
    dialog.name_edit.setText("Code reviewer")
    dialog.system_edit.setPlainText("Review code; list bugs first.")
    dialog.temperature.setValue(0.3)
    dialog.reasoning_effort.setCurrentIndex(dialog.reasoning_effort.findData("high"))
    dialog.thinking_budget.setValue(4096)
    dialog.save()
    saved = window.chat.presets().get("Code reviewer")
    assert saved is not None and saved.sampling.temperature == 0.3
    assert (saved.sampling.reasoning_effort, saved.sampling.thinking_budget) == ("high", 4096)
    dialog.picker.setCurrentIndex(dialog.picker.findData("Balanced"))
    assert dialog.thinking_budget.text() == "Off"
    dialog.picker.setCurrentIndex(dialog.picker.findData("Code reviewer"))
    assert dialog.reasoning_effort.currentText() == "High"
    dialog.accept()
    window._refresh_presets()
    assert picker.findData("Code reviewer") >= 0


def test_first_run_welcome_shows_what_works_and_what_fits(
    window: MainWindow, qtbot: QtBot, smol_hub: object
) -> None:
    text = window.chat_view.toPlainText()
    assert "Welcome to Llamaside" in text
    assert "SmolLM2 135M Instruct (bundled) is ready" in text
    assert "This machine" in text
    assert "Recommended Llama 4 Scout quant" in text or "too small for Llama 4 Scout" in text
    # The download link opens the model manager on Scout and picks the recommended quant; the
    # hub here is ours on 127.0.0.1, which has no Scout files, so the manager says so.
    window.chat_view.action_requested.emit("download-recommended", 0, 0)
    dialog = window.models_dialog
    assert dialog is not None and window.chat.settings.get("welcomed") is True
    assert dialog.model_combo.currentData() == "llama-4-scout-17b-16e-instruct"
    qtbot.waitUntil(lambda: dialog.machine is not None, timeout=30_000)
    if "Recommended Llama 4 Scout quant" in text:
        rows = dialog.fit_table.selectionModel().selectedRows()
        verdict = dialog.fit_table.item(rows[0].row(), 3) if rows else None
        assert verdict is not None and "recommended" in verdict.text()
    window.new_conversation()
    assert "Welcome to Llamaside" not in window.chat_view.toPlainText()
