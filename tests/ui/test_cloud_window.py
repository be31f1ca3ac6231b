"""Cloud use in the real window, offscreen: the providers page with a real keyring, the consent
question, a chat mixing a local and a cloud answer, the lock, the offline switch, the privacy
record, and the key's bytes in no file the app wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextDocumentFragment
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLineEdit,
    QMessageBox,
)
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.backends.secrets import SERVICE
from desktop.core.messages import MessageStatus
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from desktop.ui.thoughts_dialog import ThoughtsDialog
from tests.cloudserver import CloudServer
from tests.ui.driving import answer_modal, button_named, file_dialog_answer, pick_in_combo
from tests.ui.test_preferences import open_cloud_keys

KEY = "sk-proj-WINDOW-TEST-KEY-7c1d2e3f4a5b"
TIMEOUT_MS = 60_000


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        cloud.state.reply = ["**Cloud** says", " hello", " from", " far", " away."]
        yield cloud


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    win = build_window(home)
    win.chat.sampling = SamplingParams(temperature=0.0, max_tokens=20)
    qtbot.addWidget(win)
    # Wider than the offscreen 800-pixel screen it would fit itself to: the privacy words show.
    win.resize(1100, 720)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    win.chat.store.close()


def set_up_openai(window: MainWindow, qtbot: QtBot, server: CloudServer) -> None:
    """What a user does on Cloud → Cloud providers: URL, key, turn on, see the model list."""
    dialog = open_cloud_keys(window)
    assert window.chat.cloud is not None
    dialog.provider_list.setCurrentRow(0)
    assert dialog.selected == "openai"
    dialog.url_edit.clear()
    qtbot.keyClicks(dialog.url_edit, server.base_url + "/v1")
    qtbot.mouseClick(button_named(dialog, "Apply the base URL"), Qt.MouseButton.LeftButton)
    assert window.chat.cloud.provider("openai").base_url == server.base_url + "/v1"
    assert dialog.key_edit.echoMode() == QLineEdit.EchoMode.Password
    qtbot.keyClicks(dialog.key_edit, KEY)
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)
    assert dialog.key_edit.text() == ""  # the key does not stay in the widget
    assert keyring.get_password(SERVICE, "openai") == KEY
    assert dialog.key_source.text() == "Key: stored in the system keyring"
    with qtbot.waitSignal(window.chat.cloud.checked, timeout=TIMEOUT_MS):
        dialog.enabled_box.setChecked(True)  # turning it on fetches the model list
    assert [dialog.model_list.item(i).text() for i in range(2)] == ["gpt-4o", "gpt-4o-mini"]
    with qtbot.waitSignal(window.chat.cloud.checked, timeout=TIMEOUT_MS):
        dialog.test_button.click()
    assert dialog.test_result.text() == "Connected: 2 models available."
    dialog.window().close()


def pick(window: MainWindow, model_id: str) -> None:
    pick_in_combo(window.model_picker, model_id)


#: The first send to a provider asks consentDialog; when the chat's earlier messages stayed
#: on this computer so far, historyConsentDialog asks instead (with the same consent text).
CONSENT_DIALOGS = ("consentDialog", "historyConsentDialog")


def answer_consent(qtbot: QtBot, accept: bool) -> list[str]:
    """Click the consent question's button when it shows; returns what it said."""
    seen: list[str] = []

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or box.objectName() not in CONSENT_DIALOGS:
            QTimer.singleShot(20, click)
            return
        # The words as shown (the details are rich text: the address on a line of its own).
        details = QTextDocumentFragment.fromHtml(box.informativeText()).toPlainText()
        seen.append(" ".join((box.text() + "\n" + details).split()))
        if accept:  # "Send to OpenAI", or "Send them too" (the earlier messages with it)
            yes = [
                b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole
            ]
            assert len(yes) == 1, [b.text() for b in box.buttons()]
            yes[0].click()
        else:
            box.button(QMessageBox.StandardButton.Cancel).click()

    QTimer.singleShot(20, click)
    return seen


def type_text(window: MainWindow, qtbot: QtBot, text: str) -> None:
    """Into the message box, in place of what was there, as typed."""
    window.input_box.setFocus()
    window.input_box.clear()
    qtbot.keyClicks(window.input_box, text)


def press_enter(window: MainWindow, qtbot: QtBot) -> None:
    """Enter in the message box: it sends."""
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


def send(window: MainWindow, qtbot: QtBot, text: str) -> None:
    type_text(window, qtbot, text)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        press_enter(window, qtbot)


def test_mixed_local_and_cloud_chat_with_consent_marks_and_cost(
    window: MainWindow,
    qtbot: QtBot,
    server: CloudServer,
    home: AppPaths,
    secret_service: dict[str, str],
) -> None:
    set_up_openai(window, qtbot, server)
    send(window, qtbot, "Name one colour.")  # the bundled local model first
    pick(window, "openai:gpt-4o")
    assert "this chat's messages go to " + server.base_url in window.privacy_label.full_text

    # Declined: nothing sent, the text stays where it was typed.
    before = server.connections
    seen = answer_consent(qtbot, accept=False)
    type_text(window, qtbot, "Now say hello from the cloud.")
    press_enter(window, qtbot)
    assert seen and "will be sent to OpenAI at " + server.base_url in seen[0]
    assert server.connections == before
    assert window.input_box.toPlainText() == "Now say hello from the cloud."

    answer_consent(qtbot, accept=True)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        press_enter(window, qtbot)  # the text is still there: Enter again
    assert window.chat.cloud is not None and window.chat.cloud.has_consent("openai")
    assert window.chat.store.messages(window.conversation_id or 0)[-1].model == "openai:gpt-4o"
    local, cloud = [
        m
        for m in window.chat.store.messages(window.conversation_id or 0)
        if m.role.value == "assistant"
    ]
    assert local.model == "local:smollm2-135m-instruct" and cloud.model == "openai:gpt-4o"
    # The second request carried the whole chat, the local answer included.
    sent = server.state.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == local.content

    shown = window.chat_view.toPlainText()
    assert "· local" in shown and "· ☁ cloud" in shown
    assert "Cloud says hello from far away." in shown  # rendered Markdown
    assert "on this computer, no cost" in shown
    assert "$" in shown and "(genai-prices " in shown  # where the price came from, and its date
    # Reopened from the database, the marks are the same.
    window.open_conversation(window.conversation_id or 0)
    reopened = window.chat_view.toPlainText()
    assert "gpt-4o · OpenAI · ☁ cloud" in reopened and "· local" in reopened

    window.privacy_action.trigger()
    dialog = window.privacy_dialog
    assert dialog is not None

    def cell(row: int, column: int) -> str:
        item = dialog.table.item(row, column)
        return item.text() if item is not None else ""

    purposes = [cell(r, 3) for r in range(dialog.table.rowCount())]
    assert purposes == ["chat", "test", "models"]  # newest first
    assert cell(0, 5) == "Name one colour."
    target = home.data.parent / "exported" / "record.json"
    target.parent.mkdir()
    failures = answer_modal(file_dialog_answer(target), QFileDialog)
    qtbot.mouseClick(button_named(dialog, "Export the privacy record"), Qt.MouseButton.LeftButton)
    assert not failures, failures
    assert '"purpose": "chat"' in target.read_text()

    window.close()
    # The key is in the keyring and nowhere the app writes: data, config, cache, logs.
    written = [p for p in home.data.parent.rglob("*") if p.is_file()]
    assert any(p.name == "history.db" for p in written)
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in window.windowTitle()


def test_local_only_lock_and_offline_switch_send_nothing(
    window: MainWindow, qtbot: QtBot, server: CloudServer, secret_service: dict[str, str]
) -> None:
    set_up_openai(window, qtbot, server)
    assert window.chat.cloud is not None
    window.chat.cloud.grant_consent("openai")
    pick(window, "openai:gpt-4o")
    before = server.connections

    window.lock_button.click()
    assert window.chat.store.get_conversation(window.conversation_id or 0).local_only
    cloud_index = window.model_picker.findData("openai:gpt-4o")
    entries = window.model_picker.model()
    assert not entries.flags(entries.index(cloud_index, 0)) & Qt.ItemFlag.ItemIsEnabled
    assert window.privacy_label.text().startswith("Local")
    type_text(window, qtbot, "secret")
    press_enter(window, qtbot)
    assert "local only" in window.banner.label.text()
    assert window.input_box.toPlainText() == "secret"
    window.lock_button.click()
    assert not window.chat.store.get_conversation(window.conversation_id or 0).local_only

    window.offline_action.trigger()
    assert window.offline_label.isVisibleTo(window)
    assert window.privacy_label.text().startswith("Offline")
    press_enter(window, qtbot)  # "secret" is still there
    assert "offline, so nothing was sent" in window.banner.label.text()
    assert server.connections == before
    assert window.chat.store.messages(window.conversation_id or 0) == []
    window.offline_action.trigger()
    assert not window.offline_label.isVisibleTo(window)
    send(window, qtbot, "now online")
    assert window.chat.store.messages(window.conversation_id or 0)[-1].status == (
        MessageStatus.COMPLETE
    )


def test_a_cloud_error_shows_in_the_answer(
    window: MainWindow, qtbot: QtBot, server: CloudServer, secret_service: dict[str, str]
) -> None:
    set_up_openai(window, qtbot, server)
    assert window.chat.cloud is not None
    window.chat.cloud.grant_consent("openai")
    pick(window, "openai:gpt-4o")
    server.state.cut_after = 2
    send(window, qtbot, "hello")
    shown = window.chat_view.toPlainText()
    assert "Cloud says hello" in shown
    assert "Failed: The connection to OpenAI" in shown and "broke mid-answer" in shown


def test_no_keyring_is_said_plainly(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", fail.Keyring)
    dialog = open_cloud_keys(window)  # the page looks at the keyring as it opens
    assert "No system keyring is available" in dialog.keyring_label.text()
    assert dialog.keyring_label.isVisibleTo(dialog)
    qtbot.keyClicks(dialog.key_edit, "sk-something")
    seen: list[str] = []

    def dismiss() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            box.close()
        else:
            QTimer.singleShot(20, dismiss)

    QTimer.singleShot(20, dismiss)
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)  # Enter saves the key
    assert seen and "not saved" in seen[0]
    # No plaintext fallback: nothing anywhere in the app's folders holds the key.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"sk-something" not in path.read_bytes()


def test_shown_thinking_is_saved_apart_collapsed_opened_and_never_sent_back(
    window: MainWindow, qtbot: QtBot, server: CloudServer, secret_service: dict[str, str]
) -> None:
    """A server that shows its model's thinking (reasoning_content, as DeepSeek, vLLM and
    llama-server send it): "▸ Thought" above the answer, a click opens it, it is saved and
    exported, and the next request does not carry it."""
    server.state.reasoning_content = ["The user wants", " a colour. Blue is fine."]
    set_up_openai(window, qtbot, server)
    pick(window, "openai:gpt-4o")
    answer_consent(qtbot, accept=True)
    began: list[int] = []
    shown_then: list[bool] = []  # whether "Thinking…" was on screen, at each moment below

    def view_thinking() -> bool:
        return "Thinking…" in window.chat_view.toPlainText()

    def on_thinking(_conversation: int, answer_id: int) -> None:
        began.append(answer_id)
        shown_then.append(view_thinking())

    # Connected after the window's own slots: they see what the window has just done.
    window.chat.answer_thinking.connect(on_thinking)
    window.chat.answer_delta.connect(lambda *_args: shown_then.append(view_thinking()))
    send(window, qtbot, "Name one colour.")
    answer = window.chat.store.messages(window.conversation_id or 0)[-1]
    assert began == [answer.id]
    # Shown while it thought, gone as soon as the answer's text began.
    assert shown_then[0] and len(shown_then) > 1 and not any(shown_then[1:])
    assert answer.reasoning == "The user wants a colour. Blue is fine."
    assert "Blue is fine" not in answer.content
    shown = window.chat_view.toPlainText()
    assert "▸ Thought" in shown and "Blue is fine" not in shown  # collapsed
    assert "Thinking…" not in shown  # the placeholder made way for the line
    assert shown.index("▸ Thought") < shown.index("Cloud says hello")  # above the answer

    # The user clicks the line: the thinking opens in its own window.
    found = window.chat_view.document().find("Thought")
    assert not found.isNull()
    point = window.chat_view.cursorRect(found).center()
    point.setX(point.x() - 8)  # inside the word, not after it
    qtbot.mouseClick(window.chat_view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: window.findChild(ThoughtsDialog) is not None, timeout=5_000)
    dialog = window.findChild(ThoughtsDialog)
    assert dialog is not None and dialog.text.toPlainText() == answer.reasoning
    dialog.close()

    # Reopened from the history: the same line; the next request carries only the answer.
    window.open_conversation(window.conversation_id or 0)
    assert "▸ Thought" in window.chat_view.toPlainText()
    send(window, qtbot, "Another one?")
    sent = server.state.requests[-1]["body"]["messages"]
    assert sent[1] == {"role": "assistant", "content": answer.content}
    exported = window.chat.store.export_conversations([window.conversation_id or 0])
    assert exported["conversations"][0]["messages"][1]["reasoning"] == answer.reasoning


def test_an_endpoint_enabled_from_the_command_line_lists_its_models_at_start(
    home: AppPaths, qtbot: QtBot, server: CloudServer
) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "LLAMASIDE_HOME": str(home.data.parent)}
    for args in (
        ["providers", "add", "mine", "--base-url", server.base_url + "/v1", "--api", "openai"],
        ["providers", "enable", "mine"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "desktop", *args], env=env, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
    win = build_window(home)
    qtbot.addWidget(win)
    try:
        # Fetched in the background at start, not only when its page is opened.
        qtbot.waitUntil(lambda: win.model_picker.findData("mine:gpt-4o") >= 0, timeout=TIMEOUT_MS)
        assert win.chat.cloud is not None
        assert win.chat.cloud.key_source_text("mine").startswith("Key: none (sent without one")
    finally:
        win.close()
        win.chat.store.close()


def test_the_providers_page_says_where_an_address_comes_from(
    home: AppPaths, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    win = build_window(home)
    qtbot.addWidget(win)
    try:
        dialog = open_cloud_keys(win)
        assert dialog is not None
        dialog.provider_list.setCurrentRow(0)
        assert dialog.selected == "openai"
        assert dialog.url_edit.text() == "http://127.0.0.1:8080/v1"
        assert "OPENAI_BASE_URL" in dialog.url_source.text()
        dialog.provider_list.setCurrentRow(1)
        assert dialog.url_source.text() == ""
        dialog.window().close()
    finally:
        win.close()
        win.chat.store.close()
