"""History in the real window, offscreen: search hits that open their chat at the message,
pins, duplicates, export -> import through the File menu, and a remote image in stored chat
text that causes no request to a server of ours."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QListWidget,
    QMessageBox,
)
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.catalog import GB
from desktop.core.fit import Gpu, Machine
from desktop.core.messages import Role
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.hover_actions import install_hover_actions
from desktop.ui.main_window import MainWindow
from desktop.ui.presets_dialog import PresetsDialog
from desktop.ui.render import action_href
from tests.cloudserver import CloudServer
from tests.ui.driving import (
    answer_modal,
    button_named,
    click_link,
    file_dialog_answer,
    pick_in_combo,
)
from tests.ui.hovering import button as hover_button
from tests.ui.hovering import click_action, hover_over


def titles(window: MainWindow) -> list[str]:
    items = [window.conversation_list.item(i) for i in range(window.conversation_list.count())]
    return [i.text() for i in items if i is not None]


def click_item(qtbot: QtBot, listing: QListWidget, row: int) -> None:
    """A click on the list's row."""
    item = listing.item(row)
    listing.scrollToItem(item)
    point = listing.visualItemRect(item).center()
    qtbot.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=point)


def type_and_send(qtbot: QtBot, window: MainWindow, text: str) -> None:
    """Typed into the message box, in place of what was there, then Enter."""
    window.input_box.setFocus()
    window.input_box.clear()
    qtbot.keyClicks(window.input_box, text)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


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
    click_item(qtbot, hits, 0)
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
    window.theme_actions[theme].trigger()  # View → Theme
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
        window.theme_actions["light"].trigger()  # the palette is the whole app's


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
            row = next(row for row in range(listing.count()) if listing.item(row).text() == title)
            click_item(qtbot, listing, row)
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

    exported = tmp_path / "all.json"
    failures = answer_modal(file_dialog_answer(exported), QFileDialog)
    window.export_all_action.trigger()  # File → Export all chats…
    assert not failures, failures
    assert exported.is_file()
    markdown = tmp_path / "one.md"
    failures = answer_modal(file_dialog_answer(markdown), QFileDialog)
    window.export_action.trigger()  # File → Export this chat…
    assert not failures, failures
    assert markdown.is_file() and "Hello 🦙" in markdown.read_text()
    before = json.loads(exported.read_text())

    # Into a fresh profile (File → Import chats…): the same chats, exactly.
    other_home = AppPaths(*(tmp_path / "other" / n for n in ("data", "config", "cache", "logs")))
    other = build_window(other_home)
    qtbot.addWidget(other)
    other.show()
    qtbot.waitExposed(other)
    had = set(other.chat.store.conversation_ids())
    failures = answer_modal(file_dialog_answer(exported), QFileDialog)
    other.import_action.trigger()
    assert not failures, failures
    ids = sorted(set(other.chat.store.conversation_ids()) - had)  # in the order imported
    assert len(ids) == len(before["conversations"]) == 4  # with the start-up "New chat"
    assert other.chat.store.export_conversations(ids) == before
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    had = set(other.chat.store.conversation_ids())
    failures = answer_modal(file_dialog_answer(bad), QFileDialog)
    other.import_action.trigger()
    assert not failures, failures
    assert set(other.chat.store.conversation_ids()) == had
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
    first.theme_actions["dark"].trigger()  # View → Theme → Dark, saved
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
    again.theme_actions["light"].trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 180
    again.theme_actions["system"].trigger()  # the palette is the whole app's
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
    # The start-up chat has a message (New chat reuses an empty new chat on screen).
    window.chat.store.add_message(window.conversation_id or 0, Role.USER, "Hello")
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
    qtbot.keyClick(window.input_box, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    assert window.findChild(QMessageBox, "shortcutSheet") is not None


def test_edit_and_regenerate_keep_the_old_versions(window: MainWindow, qtbot: QtBot) -> None:
    window.chat.sampling = SamplingParams(temperature=0.8, seed=1, max_tokens=12)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        type_and_send(qtbot, window, "Name a fruit.")
    cid = window.conversation_id or 0
    question, answer = window.chat.store.messages(cid)
    # The question's toolbar has Edit, the answer's Regenerate (shown over the message hovered).
    hover = install_hover_actions(window)
    hover_over(qtbot, hover, Role.USER, question.id)
    assert hover_button(hover, "hover-edit").isVisible()
    hover_over(qtbot, hover, Role.ASSISTANT, answer.id)
    assert hover_button(hover, "hover-regenerate").isVisible()

    # Edit the question (its toolbar's Edit): the new version gets its own answer.
    click_action(qtbot, window, Role.USER, "hover-edit", question.id)
    assert window.input_box.toPlainText() == "Name a fruit."
    assert window.edit_label.isVisibleTo(window)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        type_and_send(qtbot, window, "Name a vegetable.")
    path = window.chat.store.messages(cid)
    assert [m.content for m in path][:1] == ["Name a vegetable."]
    window.open_conversation(cid)
    assert "2/2" in window.chat_view.toPlainText()

    # Regenerate the new answer: a second version of it, the first kept.
    with qtbot.waitSignal(window.chat.answer_finished, timeout=60_000):
        click_action(qtbot, window, Role.ASSISTANT, "hover-regenerate", path[1].id)
    latest = window.chat.store.messages(cid)
    assert latest[0].id == path[0].id and latest[1].id != path[1].id
    assert window.chat.store.versions(cid)[latest[1].id].count == 2

    # Back to the first question (its ‹ previous link): its own answer is still there.
    click_link(window.chat_view, action_href("version", path[0].id, question.id))
    shown = window.chat.store.messages(cid)
    assert [m.id for m in shown] == [question.id, answer.id]
    assert "Name a fruit." in window.chat_view.toPlainText()
    assert len(window.chat.store.all_messages(cid)) == 5

    # Esc cancels an edit without sending.
    click_action(qtbot, window, Role.USER, "hover-edit", question.id)
    assert window.editing is not None
    qtbot.keyClick(window.input_box, Qt.Key.Key_Escape)
    assert window.editing is None and window.input_box.toPlainText() == ""


def test_presets_picker_and_editor(window: MainWindow, qtbot: QtBot) -> None:
    picker = window.preset_picker
    names = [picker.itemText(i) for i in range(picker.count())]
    assert names[:4] == ["Balanced", "Llama 4 (recommended)", "Precise", "Creative"]
    assert picker.currentText() == "Balanced"  # SmolLM2 has no recommended preset of its own
    pick_in_combo(picker, "Precise")
    conversation = window.chat.store.get_conversation(window.conversation_id or 0)
    assert conversation.system_prompt.startswith("Answer accurately")
    assert conversation.sampling is not None and conversation.sampling.temperature == 0.2

    qtbot.mouseClick(window.presets_button, Qt.MouseButton.LeftButton)
    dialog = window.findChild(PresetsDialog)
    assert dialog is not None
    qtbot.waitExposed(dialog)
    assert dialog.picker.currentData() == "Precise"  # it opens on the chat's preset
    assert not dialog.delete_button.isEnabled()  # built in

    def type_name(name: str) -> None:
        dialog.name_edit.clear()
        qtbot.keyClicks(dialog.name_edit, name)

    type_name("Precise")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "built in" in dialog.message.text()
    type_name("Code reviewer")
    dialog.system_edit.clear()
    qtbot.keyClicks(dialog.system_edit, "Review code; list bugs first.")
    dialog.temperature.setValue(0.3)
    pick_in_combo(dialog.reasoning_effort, "high")
    dialog.thinking_budget.setValue(4096)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    saved = window.chat.presets().get("Code reviewer")
    assert saved is not None and saved.sampling.temperature == 0.3
    assert (saved.sampling.reasoning_effort, saved.sampling.thinking_budget) == ("high", 4096)
    pick_in_combo(dialog.picker, "Balanced")
    assert dialog.thinking_budget.text() == "Off"
    pick_in_combo(dialog.picker, "Code reviewer")
    assert dialog.reasoning_effort.currentText() == "High"
    qtbot.mouseClick(button_named(dialog, "Close"), Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert picker.findData("Code reviewer") >= 0  # the picker took it in as the editor closed


#: A machine Llama 4 Scout fits (experts in system RAM), and one it does not.
RTX_24 = Machine(
    system="Linux",
    ram_total=64 * GB,
    ram_available=60 * GB,
    disk_free=500 * GB,
    gpus=(Gpu("RTX", "nvidia", 24 * GB, int(23.5 * GB)),),
    offload_supported=True,
    backend="CUDA",
)
SMALL = Machine(system="Linux", ram_total=8 * GB, ram_available=6 * GB, disk_free=500 * GB)


@pytest.mark.parametrize("machine", [RTX_24, SMALL], ids=["scout-fits", "too-small"])
def test_first_run_welcome_shows_what_works_and_what_fits(
    home: AppPaths,
    qtbot: QtBot,
    smol_hub: object,
    machine: Machine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This machine, as the welcome and the model manager see it: the link the welcome offers
    # depends on it, and the user can click only the one it shows.
    monkeypatch.setattr("desktop.services.chat.detect_for_loading", lambda _dir: machine)
    monkeypatch.setattr("desktop.services.model_catalog.detect_machine", lambda _dir: machine)
    window = build_window(home)
    qtbot.addWidget(window)
    window.resize(1000, 600)
    window.show()
    qtbot.waitExposed(window)
    try:
        text = window.chat_view.toPlainText()
        assert "Welcome to Llamaside" in text
        assert "SmolLM2 135M Instruct (bundled) is ready" in text
        assert "This machine" in text
        if machine is SMALL:
            assert "too small for Llama 4 Scout" in text
            # Its "Get models…" link opens the model manager, which lists smaller ones.
            click_link(window.chat_view, action_href("models", 0))
            assert window.models_dialog is not None and window.models_dialog.isVisible()
            return
        assert "Recommended Llama 4 Scout quant" in text
        # The download link opens the model manager on Scout and picks the recommended quant;
        # the hub here is ours on 127.0.0.1, which has no Scout files, so the manager says so.
        with qtbot.waitSignal(window.downloads.job_failed, timeout=30_000):
            click_link(window.chat_view, action_href("download-recommended", 0))
        dialog = window.models_dialog
        assert dialog is not None and window.chat.settings.get("welcomed") is True
        assert dialog.model_combo.currentData() == "llama-4-scout-17b-16e-instruct"
        qtbot.waitUntil(lambda: dialog.machine is not None, timeout=30_000)
        rows = dialog.fit_table.selectionModel().selectedRows()
        verdict = dialog.fit_table.item(rows[0].row(), 3) if rows else None
        assert verdict is not None and "recommended" in verdict.text()
        qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
        assert "Welcome to Llamaside" not in window.chat_view.toPlainText()
    finally:
        if window.models_dialog is not None:  # its own window: left shown, it lies over the next
            window.models_dialog.close()
        window.close()
        window.chat.store.close()
