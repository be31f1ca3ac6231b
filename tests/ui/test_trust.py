"""The window keeps the user's trust, driven as a user drives it: each chat keeps its model and a
chat answered on this computer never drifts to the cloud unasked; the sidebar's menu acts on the
row right-clicked; File's Import and Export work from the menu; a file that is no model is
refused when it is added; nothing on screen describes a chat or a state that is gone.

The cloud is our loopback OpenAI-style server; the local chat's history is written to the
database before the window opens, as an earlier run of the app would have left it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QListWidget, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from desktop.ui.main_window import MainWindow
from tests.cloudserver import CloudServer
from tests.ui.driving import (
    answer_modal,
    choose_from_context_menu,
    file_dialog_answer,
    pick_in_combo,
)

KEY = "sk-trust-test-0d9e8f7a"
LOCAL = "local:smollm2-135m-instruct"
CLOUD = "openai:gpt-4o"
TIMEOUT_MS = 30_000


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        yield cloud


def write_local_chat(home: AppPaths, title: str, turns: int = 1) -> int:
    """A chat answered on this computer, as an earlier run left it in the history."""
    store = ChatStore(home.database)
    conversation = store.create_conversation(title, model=LOCAL, system_prompt="Keep it private.")
    for n in range(turns):
        question = store.add_message(conversation.id, Role.USER, f"private question {n}")
        store.add_message(
            conversation.id,
            Role.ASSISTANT,
            f"local answer {n}",
            model=LOCAL,
            status=MessageStatus.COMPLETE,
            parent_id=question.id,
        )
    store.close()
    return conversation.id


@pytest.fixture
def window(
    home: AppPaths, qtbot: QtBot, server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MainWindow]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the read-only key source: no keyring needed
    write_local_chat(home, "Private notes", turns=3)
    win = build_window(home)
    win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=20)
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    qtbot.waitExposed(win)
    cloud = win.chat.cloud
    assert cloud is not None
    cloud.timeout_s = 5.0
    cloud.set_base_url("openai", server.base_url + "/v1")
    with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS):
        cloud.set_enabled("openai", True)
    yield win
    win.close()
    win.chat.store.close()


def row_of(listing: QListWidget, text: str) -> QPoint:
    """The centre of the row showing ``text`` (in the viewport, where a click lands)."""
    for row in range(listing.count()):
        item = listing.item(row)
        if item.text() == text:
            listing.scrollToItem(item)
            return listing.visualItemRect(item).center()
    raise AssertionError(
        f"no row {text!r}: {[listing.item(i).text() for i in range(listing.count())]}"
    )


def click_row(qtbot: QtBot, listing: QListWidget, text: str) -> None:
    qtbot.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=row_of(listing, text))


def type_and_send(qtbot: QtBot, window: MainWindow, text: str) -> None:
    window.input_box.setFocus()
    window.input_box.clear()
    qtbot.keyClicks(window.input_box, text)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


def click_button(text: str) -> Callable[[QWidget], None]:
    def click(widget: QWidget) -> None:
        assert isinstance(widget, QMessageBox)
        button = next(b for b in widget.buttons() if b.text().replace("&", "") == text)
        button.click()

    return click


def test_each_chat_keeps_its_model_and_local_history_goes_to_the_cloud_only_when_asked(
    window: MainWindow, qtbot: QtBot, server: CloudServer
) -> None:
    chat = window.chat
    assert window.windowTitle().startswith("Private notes")
    assert window.model_picker.currentData() == LOCAL

    # A new chat on the cloud model: the provider's first send asks once.
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    pick_in_combo(window.model_picker, CLOUD)
    assert window.model_picker.currentData() == CLOUD
    assert "☁" in window.privacy_label.text()
    failures = answer_modal(click_button("Send to OpenAI"), QMessageBox, "consentDialog")
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        type_and_send(qtbot, window, "Hello cloud")
    assert not failures, failures
    assert server.state.requests[-1]["body"]["messages"][-1]["content"] == "Hello cloud"

    # The local chat, opened from the sidebar, is still on the local model; so is a new chat.
    click_row(qtbot, window.conversation_list, "Private notes")
    assert window.windowTitle().startswith("Private notes")
    assert window.model_picker.currentData() == LOCAL
    assert window.privacy_label.full_text.startswith("Local")
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    assert window.model_picker.currentData() == LOCAL
    click_row(qtbot, window.conversation_list, "Private notes")

    # Picking the cloud model for it, then sending: asked what goes where. Cancel sends nothing.
    pick_in_combo(window.model_picker, CLOUD)
    before, requests = server.connections, len(server.state.requests)
    said: list[str] = []

    def cancel(widget: QWidget) -> None:
        assert isinstance(widget, QMessageBox)
        said.append(widget.text())
        widget.button(QMessageBox.StandardButton.Cancel).click()

    failures = answer_modal(cancel, QMessageBox, "historyConsentDialog")
    type_and_send(qtbot, window, "Is this private?")
    assert not failures, failures
    port = server.base_url.rsplit(":", 1)[1]
    assert said == [
        "6 earlier messages, answered on this computer, and this chat's system prompt will be "
        f"sent to gpt-4o at 127.0.0.1:{port} (OpenAI) with your message."
    ]
    assert (server.connections, len(server.state.requests)) == (before, requests)
    assert window.input_box.toPlainText() == "Is this private?"  # given back, nothing lost
    private_id = window.conversation_id
    assert private_id is not None
    assert len(chat.store.messages(private_id)) == 6

    # "New chat with just this message": only the message goes, from a new chat.
    failures = answer_modal(
        click_button("New chat with just this message"), QMessageBox, "historyConsentDialog"
    )
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert not failures, failures
    assert server.state.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "Is this private?"}
    ]
    assert window.conversation_id != private_id
    assert window.model_picker.currentData() == CLOUD
    assert len(chat.store.messages(private_id)) == 6

    # "Send them too": the history goes, and the next message asks nothing more.
    click_row(qtbot, window.conversation_list, "Private notes")
    assert window.model_picker.currentData() == CLOUD  # the chat kept the model picked for it
    failures = answer_modal(click_button("Send them too"), QMessageBox, "historyConsentDialog")
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        type_and_send(qtbot, window, "Go ahead")
    assert not failures, failures
    sent = [m["content"] for m in server.state.requests[-1]["body"]["messages"]]
    assert sent[0] == "Keep it private." and sent[1] == "private question 0"
    assert sent[-1] == "Go ahead" and len(sent) == 8
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        type_and_send(qtbot, window, "And now?")  # no dialog: it would time out the signal


def test_the_privacy_label_shortens_instead_of_being_cut(
    window: MainWindow, qtbot: QtBot, server: CloudServer
) -> None:
    pick_in_combo(window.model_picker, CLOUD)
    label = window.privacy_label
    whole = f"☁ Cloud · this chat's messages go to {server.base_url}/v1"
    for width in (1600, 1100, 900, 760):
        window.resize(width, 700)
        qtbot.wait(50)
        shown = label.text()
        assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
        assert shown in (whole, f"☁ Cloud · {server.base_url[7:]}", "☁ Cloud", "☁")
        assert label.toolTip() == whole
    window.resize(1600, 700)
    qtbot.wait(50)
    assert label.text() == whole
    window.resize(760, 700)
    qtbot.wait(50)
    assert label.text() != whole


def test_the_sidebar_menu_acts_on_the_row_right_clicked(
    window: MainWindow, qtbot: QtBot, home: AppPaths
) -> None:
    store = window.chat.store
    other = store.create_conversation("Write a short poem")
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)

    def title(widget: QWidget) -> None:
        assert isinstance(widget, QInputDialog)
        widget.setTextValue("France trivia")
        widget.accept()

    failures = answer_modal(title, QInputDialog)
    window.rename_action.trigger()  # Chat → Rename… acts on the chat on screen
    assert not failures, failures
    assert window.windowTitle().startswith("France trivia")
    opened = window.conversation_id
    listing = window.conversation_list

    # Pin: the right-clicked chat is pinned, not the open one; the open one stays on screen.
    shown = choose_from_context_menu(
        listing, row_of(listing, "Write a short poem"), "Pin to the top"
    )
    assert shown == ["Open", "Rename…", "Pin to the top", "Duplicate", "Export…", "Delete"]
    assert store.get_conversation(other.id).pinned
    assert not store.get_conversation(opened or 0).pinned
    assert window.conversation_id == opened
    assert listing.currentItem().text() == "France trivia"  # the highlight went back

    # Rename, answering the dialog as the user would.
    def rename(widget: QWidget) -> None:
        assert isinstance(widget, QInputDialog)
        assert widget.textValue() == "Write a short poem"
        widget.setTextValue("A poem about rain")
        widget.accept()

    failures = answer_modal(rename, QInputDialog)
    choose_from_context_menu(listing, row_of(listing, "Write a short poem"), "Rename…")
    assert not failures, failures
    assert store.get_conversation(other.id).title == "A poem about rain"
    assert window.windowTitle().startswith("France trivia")

    # Delete: that chat goes (with Undo naming it), the open one stays.
    choose_from_context_menu(listing, row_of(listing, "A poem about rain"), "Delete")
    assert window.undo_bar.isVisible()
    assert window.undo_bar.label.text() == "Deleted “A poem about rain”."
    assert not store.is_listed(other.id)
    assert window.conversation_id == opened
    qtbot.mouseClick(window.undo_bar.undo_button, Qt.MouseButton.LeftButton)
    assert store.is_listed(other.id)

    # In the search results too.
    qtbot.keyClicks(window.sidebar.search_edit, "private")
    qtbot.waitUntil(lambda: window.sidebar.hits.count() > 0, timeout=5000)
    hits = window.sidebar.hits
    first = hits.visualItemRect(hits.item(0)).center()
    target = int(hits.item(0).data(Qt.ItemDataRole.UserRole))
    assert target != window.conversation_id
    choose_from_context_menu(hits, first, "Delete")
    assert not store.is_listed(target)
    assert window.conversation_id == opened


def test_import_and_export_from_the_file_menu_say_what_they_did(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    exported = tmp_path / "everything.json"

    failures = answer_modal(file_dialog_answer(exported), QFileDialog)
    window.export_all_action.trigger()
    assert not failures, failures
    data = json.loads(exported.read_text(encoding="utf-8"))
    count = len(data["conversations"])
    assert count >= 1
    assert window.statusBar().currentMessage() == (
        f"Exported {count} chat{'s' if count != 1 else ''} to {exported}"
    )

    before = set(window.chat.store.conversation_ids())

    failures = answer_modal(file_dialog_answer(exported), QFileDialog)
    window.import_action.trigger()  # triggered(bool) once arrived as the path
    assert not failures, failures
    added = set(window.chat.store.conversation_ids()) - before
    assert len(added) == count
    assert window.banner.label.text() == f"Imported {count} chat(s) from everything.json."


def test_nothing_on_screen_describes_a_chat_or_a_state_that_is_gone(
    window: MainWindow, qtbot: QtBot, server: CloudServer
) -> None:
    chat = window.chat
    cloud = chat.cloud
    assert cloud is not None
    cloud.grant_consent("openai")
    speed = window.speed_label

    # A cloud answer: the status bar names who answers while it streams, then the numbers.
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    assert window.windowTitle() == "New chat — Llamaside"
    pick_in_combo(window.model_picker, CLOUD)
    server.state.delay_s = 0.2
    seen: list[str] = []
    chat.answer_delta.connect(lambda *_args: seen.append(window.engine_label.text()))
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        type_and_send(qtbot, window, "Name a colour for the title")
    server.state.delay_s = 0.0
    port = server.base_url.rsplit(":", 1)[1]
    assert seen and set(seen) == {f"☁ gpt-4o · OpenAI at 127.0.0.1:{port} is answering"}
    assert window.engine_label.text() == "No model loaded"  # the local engine's state again
    # The first message titled the chat: the window's title follows.
    assert window.windowTitle() == "Name a colour for the title — Llamaside"
    assert speed.text().startswith("5 tokens · ")

    # A new chat shows no numbers of the chat before; going back shows that chat's own.
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    assert speed.text() == ""
    assert window.windowTitle() == "New chat — Llamaside"
    click_row(qtbot, window.conversation_list, "Name a colour for the title")
    assert speed.text().startswith("5 tokens · ")

    # The lock: a refusal while locked goes when the lock is turned off.
    qtbot.mouseClick(window.lock_button, Qt.MouseButton.LeftButton)
    assert window.lock_button.isChecked()
    type_and_send(qtbot, window, "Locked, so this stays here")
    assert window.banner.isVisible()
    assert window.banner.label.text().startswith("This chat is local only, so nothing was sent")
    qtbot.mouseClick(window.lock_button, Qt.MouseButton.LeftButton)
    assert not window.lock_button.isChecked()
    assert not window.banner.isVisible()

    # Offline: the refusal goes when the app is back online.
    window.offline_action.trigger()
    assert window.offline_label.isVisible()
    window.input_box.clear()
    type_and_send(qtbot, window, "Offline, so this stays here")
    assert window.banner.label.text().startswith("Llamaside is offline")
    assert window.banner.isVisible()
    window.offline_action.trigger()
    assert not window.offline_label.isVisible()
    assert not window.banner.isVisible()

    # A message about one chat goes when another chat is shown.
    window.offline_action.trigger()
    type_and_send(qtbot, window, "Offline again")
    assert window.banner.isVisible()
    click_row(qtbot, window.conversation_list, "Private notes")
    assert not window.banner.isVisible()
    window.offline_action.trigger()


def test_the_menu_key_opens_the_current_rows_menu(window: MainWindow, qtbot: QtBot) -> None:
    listing = window.conversation_list
    listing.setFocus()
    opened = window.conversation_id
    assert opened is not None and listing.currentItem().text() == "Private notes"
    shown = choose_from_context_menu(listing, None, "Pin to the top")
    assert "Delete" in shown
    assert window.chat.store.get_conversation(opened).pinned


def test_new_chat_twice_reuses_the_empty_one_on_the_default_model(
    window: MainWindow, qtbot: QtBot
) -> None:
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    first = window.conversation_id
    pick_in_combo(window.model_picker, CLOUD)
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    assert window.conversation_id == first  # not a second empty "New chat"
    assert window.model_picker.currentData() == LOCAL  # and a new chat starts local
    titles = [
        window.conversation_list.item(i).text() for i in range(window.conversation_list.count())
    ]
    assert titles.count("New chat") == 1
